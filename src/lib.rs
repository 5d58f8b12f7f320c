pub mod config;
pub mod simulator;
pub mod pb {
    tonic::include_proto!("onlyoffice.people.v1");
}
