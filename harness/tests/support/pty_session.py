"""Drives `isolated-test run -- /bin/sh` on a pseudo-terminal, as a person at
a terminal would, and prints what the terminal showed, the exit code, and
whether the terminal's settings were restored. Used by harness/tests/cli.rs.

    pty_session.py CLI basics   types commands, a Ctrl-C, and `exit 3`
    pty_session.py CLI resize   resizes the window twice (busybox root) and
                                prints what `stty size` and a WINCH trap in
                                the foreground job saw
    pty_session.py CLI terminated  SIGTERM to the runner while the shell
                                waits at its prompt: the sandbox goes and
                                the terminal is restored all the same
    pty_session.py CLI debian   the seed notes' walkthrough in a Debian root
                                (bash): `echo $$`, `ls /`, `hostname sag2`,
                                and `exit 5`

The runner gets the pty as its controlling terminal, as a shell started in
a terminal has: resizing the window (TIOCSWINSZ on the master) then sends
it SIGWINCH."""
import fcntl, os, re, select, struct, subprocess, sys, termios, time

cli, scenario = sys.argv[1], sys.argv[2]
master, slave = os.openpty()


def set_size(rows, cols):
    fcntl.ioctl(master, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))


def take_terminal():
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


set_size(33, 101)
before = termios.tcgetattr(slave)
args = {
    "basics": ["run", "--hostname", "sag", "--", "/bin/sh"],
    "resize": ["run", "--rootfs", "busybox", "--", "/bin/sh"],
    "terminated": ["run", "--", "/bin/sh"],
    "debian": ["run", "--debootstrap", "bookworm", "--hostname", "sag", "--", "/bin/bash"],
}[scenario]
proc = subprocess.Popen([cli] + args, stdin=slave, stdout=slave, stderr=slave, close_fds=True,
                        start_new_session=True, preexec_fn=take_terminal)
shown = b""


def pump(seconds, until=None, since=0):
    """Reads what the terminal shows for up to `seconds`, or until `until`
    (bytes or a compiled pattern) shows after offset `since`."""
    global shown
    end = time.time() + seconds
    while time.time() < end:
        if until is not None:
            tail = shown[since:]
            if (until.search(tail) if hasattr(until, "search") else until in tail):
                return
        ready, _, _ = select.select([master], [], [], 0.05)
        if ready:
            try:
                data = os.read(master, 4096)
            except OSError:
                return
            if not data:
                return
            shown += data


SIZE = re.compile(rb"size=(\d+) (\d+)=")


def stty_size(expect):
    """What `stty size` says inside, asked until it says `expect` (a resize
    reaches the pty through a signal, so it may trail the keys typed just
    after it) or 5 s have passed."""
    seen = None
    deadline = time.time() + 5
    while time.time() < deadline:
        start = len(shown)
        os.write(master, b"echo size=$(stty size)=\n")
        pump(3, until=SIZE, since=start)
        found = SIZE.findall(shown[start:])
        if found:
            seen = "%s %s" % (found[-1][0].decode(), found[-1][1].decode())
            if seen == expect:
                break
        time.sleep(0.1)
    return seen


# The first run of the Debian scenario may build the root (a minute or
# more, or waiting for another test's build) before the shell prompts.
pump(600 if scenario == "debian" else 10, until=b"# ")
if scenario == "debian":
    os.write(master, b"echo pid=$$; cat /etc/debian_version; ls /; hostname\n")
    pump(5, until=re.compile(rb"\n(sag)\r?\n"))
    os.write(master, b"hostname sag2; echo now=$(hostname)\n")
    pump(5, until=b"now=sag2")
    os.write(master, b"exit 5\n")
elif scenario == "terminated":
    os.write(master, b"echo pid=$$\n")
    pump(5, until=re.compile(rb"pid=\d"))
    proc.terminate()
    pump(15, until=b"interrupted by")
elif scenario == "basics":
    os.write(master, b"echo pid=$$; hostname; tty\n")
    pump(5, until=b"/dev/pts/")
    os.write(master, b"sleep 30\n")
    time.sleep(1)
    os.write(master, b"\x03")  # Ctrl-C: must stop `sleep` inside, not the runner
    os.write(master, b"echo after-interrupt; exit 3\n")
else:
    print("STTY initial %s" % stty_size("33 101"))
    # The terminal's foreground job gets SIGWINCH: a shell whose trap
    # prints winch-42 (the typed line shows the unexpanded $((6*7))).
    start = len(shown)
    os.write(master, b"sh -c 'trap \"echo winch-$((6*7))\" WINCH; echo ready-$((1+1)); "
                     b"while :; do sleep 0.1; done'\n")
    pump(5, until=b"ready-2", since=start)
    traps_before = shown[start:].count(b"winch-42")
    set_size(50, 132)
    pump(5, until=b"winch-42", since=start)
    print("TRAPS before-resize %d after %d" % (traps_before, shown[start:].count(b"winch-42") - traps_before))
    os.write(master, b"\x03")
    print("STTY resized %s" % stty_size("50 132"))
    # Resized again at the prompt, while the shell itself reads the line.
    set_size(20, 60)
    print("STTY resized-again %s" % stty_size("20 60"))
    os.write(master, b"exit 4\n")
if scenario != "terminated":
    pump(15, until=b"resources:")
pump(0.3)
code = proc.wait(timeout=30)
after = termios.tcgetattr(slave)
sys.stdout.write(shown.decode(errors="replace"))
print("\nEXIT %d RESTORED %s" % (code, before == after))
