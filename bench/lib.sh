# Shared by the bench scripts (sourced, not run).

# executable TARGET: the executable cargo built for TARGET, from its JSON
# messages (`--message-format=json`) on stdin.
executable() {
    python3 -c '
import json, sys
exe = None
for line in sys.stdin:
    try:
        msg = json.loads(line)
    except ValueError:
        continue
    if msg.get("reason") == "compiler-artifact" and msg["target"]["name"] == sys.argv[1] \
            and msg.get("executable"):
        exe = msg["executable"]
if not exe:
    sys.exit("no executable for target `%s` in cargo output" % sys.argv[1])
print(exe)
' "$1"
}
