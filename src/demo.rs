//! `--demo`: starts the embedded portal simulator (the `portal-sim` crate,
//! behind the `demo` feature) with its seeded users and prints how to call
//! the gateway against it.

use std::net::SocketAddr;

use url::Url;

use crate::domain::Credential;
use crate::domain::{Product, ProductChoice};
use portal_sim::{Simulator, seed};

/// A running demo portal.
pub struct Demo {
    simulator: Simulator,
    credential: Credential,
}

impl Demo {
    /// Starts the simulator on a free loopback port. Calls without a
    /// credential act as the demo owner unless `token` says otherwise.
    pub async fn start(
        product: Option<ProductChoice>,
        token: Option<Credential>,
    ) -> std::io::Result<Self> {
        let product = product.and_then(ProductChoice::known);
        let simulator = Simulator::start(match product {
            Some(Product::Docspace) => portal_sim::Product::Docspace,
            Some(Product::Workspace) | None => portal_sim::Product::Workspace,
        })
        .await?;
        let credential = match token {
            Some(token) => token,
            None => Credential::authorization(seed::ADMIN_TOKEN)
                .map_err(|error| std::io::Error::other(error.to_string()))?,
        };
        Ok(Self {
            simulator,
            credential,
        })
    }

    /// The simulated portal's root URL.
    pub fn portal_url(&self) -> Url {
        self.simulator.base_url()
    }

    /// The simulated product.
    pub fn product(&self) -> Product {
        match self.simulator.product() {
            portal_sim::Product::Workspace => Product::Workspace,
            portal_sim::Product::Docspace => Product::Docspace,
        }
    }

    /// The credential used for calls that carry none.
    pub fn credential(&self) -> Credential {
        self.credential.clone()
    }

    /// Prints the addresses, the demo users and ready-to-paste grpcurl calls.
    pub fn print_instructions(&self, listen: SocketAddr) {
        let port = listen.port();
        let call = |metadata: &str, body: &str, rpc: &str| {
            format!(
                "grpcurl -plaintext {metadata}-d '{body}' localhost:{port} onlyoffice.people.v1.PeopleService/{rpc}"
            )
        };
        let user_id = seed::USER_ID;
        let merge = match self.product() {
            Product::Workspace => call(
                "",
                &format!(
                    r#"{{"user_id":"{user_id}","contacts":[{{"type":"telegram","value":"@mike"}}]}}"#
                ),
                "UpdateContacts",
            ),
            // DocSpace changes contacts only on one's own profile, and needs `spam`.
            Product::Docspace => call(
                &format!("-H 'authorization: {}' ", seed::USER_TOKEN),
                r#"{"user_id":"@self","spam":true,"contacts":[{"type":"telegram","value":"@mike"}]}"#,
                "UpdateContacts",
            ),
        };
        println!(
            "people-gateway demo: gRPC on port {port}, simulated {product} portal at {url}\n\
             Calls without credentials act as the owner jane.doe ({admin_token}).\n\
             Other demo tokens (send as -H 'authorization: <token>'): {user_token} (mike.zanyatski, {user_id}), {guest_token}.\n\
             Try:\n  grpcurl -plaintext localhost:{port} list\n  {get}\n  {merge}\n  {list}",
            product = self.product(),
            url = self.portal_url(),
            admin_token = seed::ADMIN_TOKEN,
            user_token = seed::USER_TOKEN,
            guest_token = seed::GUEST_TOKEN,
            get = call("", &format!(r#"{{"user_id":"{user_id}"}}"#), "GetUser"),
            list = call("", r#"{"page_size":2}"#, "ListUsers"),
        );
    }
}
