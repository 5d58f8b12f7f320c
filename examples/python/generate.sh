#!/usr/bin/env bash
# Generates the Python stubs of the contract into ./generated (not committed).
# google.rpc.Status and its details come from googleapis-common-protos, which
# grpcio-status brings along.
set -euo pipefail
cd "$(dirname "$0")"
python=${PYTHON:-python3}
root=../../proto
rm -rf generated && mkdir -p generated
"$python" -m grpc_tools.protoc -I "$root" \
  --python_out=generated --grpc_python_out=generated \
  "$root/onlyoffice/people/v1/people.proto"
touch generated/__init__.py
