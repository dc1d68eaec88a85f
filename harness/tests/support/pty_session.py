"""Drives `isolated-test run -- /bin/sh` on a pseudo-terminal, as a person at
a terminal would: types commands, a Ctrl-C, and `exit`; prints what the
terminal showed, the exit code, and whether the terminal's settings were
restored. Used by harness/tests/cli.rs."""
import os, select, subprocess, sys, termios, time

cli = sys.argv[1]
master, slave = os.openpty()
before = termios.tcgetattr(slave)
proc = subprocess.Popen([cli, "run", "--hostname", "sag", "--", "/bin/sh"],
                        stdin=slave, stdout=slave, stderr=slave, close_fds=True, start_new_session=True)
shown = b""

def pump(seconds, until=None):
    global shown
    end = time.time() + seconds
    while time.time() < end and not (until and until in shown):
        ready, _, _ = select.select([master], [], [], 0.05)
        if ready:
            try:
                data = os.read(master, 4096)
            except OSError:
                return
            if not data:
                return
            shown += data

pump(10, until=b"# ")
os.write(master, b"echo pid=$$; hostname; tty\n")
pump(5, until=b"/dev/pts/")
os.write(master, b"sleep 30\n")
time.sleep(1)
os.write(master, b"\x03")  # Ctrl-C: must stop `sleep` inside, not the runner
os.write(master, b"echo after-interrupt; exit 3\n")
pump(15, until=b"resources:")
pump(0.3)
code = proc.wait(timeout=30)
after = termios.tcgetattr(slave)
sys.stdout.write(shown.decode(errors="replace"))
print("\nEXIT %d RESTORED %s" % (code, before == after))
