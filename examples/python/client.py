"""A people-gateway client in Python (grpcio): reads a user, merges a contact,
reads the google.rpc details of an error, streams changes through SyncUsers,
matching each answer to its item, pages through the directory with
ListUsers and finds a user by email.

    pip install -r requirements.txt && ./generate.sh
    python client.py localhost:50051 demo-admin-token
"""

import sys

USAGE = "usage: client.py HOST:PORT TOKEN"
if __name__ == "__main__" and len(sys.argv) < 3:
    # Before the imports below, which fail until ./generate.sh has run.
    print(USAGE, file=sys.stderr)
    sys.exit(2)

import grpc  # noqa: E402
from google.rpc import error_details_pb2  # noqa: E402
from grpc_status import rpc_status  # noqa: E402

sys.path.insert(0, "generated")
from onlyoffice.people.v1 import people_pb2, people_pb2_grpc  # noqa: E402

MIKE = "1c2f7b3d-9e50-4b4c-8d6e-7f8091a2b302"
NOBODY = "00000000-0000-0000-0000-0000000000ff"


def details(error: grpc.RpcError) -> dict:
    """The reason and metadata of a gateway error, from google.rpc.ErrorInfo."""
    status = rpc_status.from_call(error)
    for detail in status.details if status else []:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            return {"reason": info.reason, "domain": info.domain, **dict(info.metadata)}
    return {}


def info_of(status) -> dict:
    """The ErrorInfo of a google.rpc.Status, as a SyncUsers item error carries it."""
    for detail in status.details:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            return {"reason": info.reason, **dict(info.metadata)}
    return {}


def sync(people, metadata) -> None:
    """Streams a few changes; the generator is read only as the gateway takes items."""
    changes = {
        "mike-moves": people_pb2.SyncUsersRequest(
            item_id="mike-moves",
            update_user=people_pb2.UpdateUserRequest(user_id=MIKE, location="Riga"),
        ),
        "mike-telegram": people_pb2.SyncUsersRequest(
            item_id="mike-telegram",
            update_contacts=people_pb2.UpdateContactsRequest(
                user_id=MIKE, contacts=[people_pb2.Contact(type="telegram", value="@mike_synced")]
            ),
        ),
        "nobody": people_pb2.SyncUsersRequest(
            item_id="nobody",
            set_contacts=people_pb2.SetContactsRequest(user_id=NOBODY),
        ),
    }
    answers = {}
    for answer in people.SyncUsers(iter(changes.values()), metadata=metadata, timeout=30):
        assert answer.item_id not in answers, f"{answer.item_id} answered twice"
        answers[answer.item_id] = answer
    assert answers.keys() == changes.keys(), answers.keys()
    assert answers["mike-moves"].user.location == "Riga"
    contacts = [(c.type, c.value) for c in answers["mike-telegram"].user.contacts.contacts]
    assert ("telegram", "@mike_synced") in contacts, contacts
    failed = answers["nobody"]
    assert failed.WhichOneof("result") == "error"
    assert failed.error.code == grpc.StatusCode.NOT_FOUND.value[0], failed.error
    assert info_of(failed.error).get("reason") == "PORTAL_NOT_FOUND", failed.error
    print(f"synced {len(answers)} items: 2 applied, 1 failed ({failed.error.message})")


def list_all(people, metadata, page_size: int = 2) -> list:
    """Every user the caller may see, following next_page_token to the last page."""
    users, token = [], ""
    while True:
        page = people.ListUsers(
            people_pb2.ListUsersRequest(page_size=page_size, page_token=token),
            metadata=metadata,
            timeout=10,
        )
        assert len(page.users) <= page_size, len(page.users)
        users.extend(page.users)
        token = page.next_page_token
        if not token:
            return users


def find_by_email(people, metadata, email: str):
    """The user with this address (any case), or None."""
    page = people.ListUsers(people_pb2.ListUsersRequest(email=email), metadata=metadata, timeout=10)
    return page.users[0] if page.users else None


def main(target: str, token: str) -> int:
    metadata = [("authorization", token)]
    with grpc.insecure_channel(target) as channel:
        people = people_pb2_grpc.PeopleServiceStub(channel)

        user = people.GetUser(people_pb2.GetUserRequest(user_id=MIKE), metadata=metadata, timeout=10)
        print(f"read {user.display_name} ({user.id})")

        merged = people.UpdateContacts(
            people_pb2.UpdateContactsRequest(
                user_id=MIKE,
                contacts=[people_pb2.Contact(type="telegram", value="@mike_from_python")],
            ),
            metadata=metadata,
            timeout=10,
        )
        kept = [(c.type, c.value) for c in merged.contacts.contacts]
        assert ("telegram", "@mike_from_python") in kept, kept
        print(f"merged a contact: {len(kept)} contacts now")

        sync(people, metadata)

        everyone = list_all(people, metadata)
        ids = [u.id for u in everyone]
        assert len(ids) == len(set(ids)), "a user listed twice"
        assert MIKE in ids, ids
        print(f"listed {len(ids)} users, two a page")
        found = find_by_email(people, metadata, "MIKE@EXAMPLE.COM")
        assert found is not None and found.id == MIKE, found
        assert find_by_email(people, metadata, "nobody@example.com") is None
        print(f"found {found.display_name} by email")

        try:
            people.GetUser(people_pb2.GetUserRequest(user_id=NOBODY), metadata=metadata, timeout=10)
        except grpc.RpcError as error:
            info = details(error)
            print(f"error {error.code().name}: {error.details()} {info}")
            assert error.code() == grpc.StatusCode.NOT_FOUND
            assert info.get("reason") == "PORTAL_NOT_FOUND", info
            return 0
    print("expected NOT_FOUND")
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
