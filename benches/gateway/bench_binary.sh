# Sourced by profile.sh and pgo.sh: `bench_binary` builds the gateway
# benchmark (`cargo bench --no-run`, in the environment's target directory
# and flags) and prints the path of its binary.
bench_binary() {
  cargo bench --bench gateway --no-run --locked --message-format=json \
    | python3 -c 'import json, sys
for line in sys.stdin:
    message = json.loads(line)
    if message.get("reason") == "compiler-artifact" and message.get("executable") \
            and message["target"]["name"] == "gateway":
        print(message["executable"])'
}
