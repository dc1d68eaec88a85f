//! The example suite (`scripts/example.sh` runs it): classic host-polluting
//! tests, each of which would break the machine or its neighbours as a
//! plain `#[test]`, and passes harmlessly as an `#[isolated_test]`.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::Command;

use isolated_test::isolated_test;

#[isolated_test(hostname = "ci-runner-7")]
fn renames_the_host() {
    println!("hostname inside: {}", rustix::system::uname().nodename().to_string_lossy());
    rustix::system::sethostname(b"renamed-by-a-test").unwrap();
    println!("renamed to: {}", rustix::system::uname().nodename().to_string_lossy());
}

#[isolated_test]
fn points_a_name_at_a_test_database() {
    // Mounting a file over /etc/hosts works as root and rootless alike.
    std::fs::write("/tmp/hosts", "127.0.0.1 localhost\n10.0.0.5 db.internal\n").unwrap();
    rustix::mount::mount_bind("/tmp/hosts", "/etc/hosts").unwrap();
    let hosts = std::fs::read_to_string("/etc/hosts").unwrap();
    assert!(hosts.contains("db.internal"));
    println!("/etc/hosts inside:\n{hosts}");
}

fn serve_once_on_8080(reply: &'static str) {
    let listener = TcpListener::bind("127.0.0.1:8080").expect("port 8080 is free in every sandbox");
    let server = std::thread::spawn(move || {
        let (mut conn, _) = listener.accept().unwrap();
        let mut buf = [0u8; 64];
        let _ = conn.read(&mut buf).unwrap();
        conn.write_all(reply.as_bytes()).unwrap();
    });
    let mut client = TcpStream::connect("127.0.0.1:8080").unwrap();
    client.write_all(b"GET / HTTP/1.0\r\n\r\n").unwrap();
    let mut answer = String::new();
    client.read_to_string(&mut answer).unwrap();
    server.join().unwrap();
    assert_eq!(answer, reply);
}

#[isolated_test]
fn serves_on_port_8080_a() {
    serve_once_on_8080("HTTP/1.0 200 OK\r\n\r\na");
}

#[isolated_test]
fn serves_on_port_8080_b() {
    serve_once_on_8080("HTTP/1.0 200 OK\r\n\r\nb");
}

#[isolated_test]
fn mounts_a_cache_over_tmp() {
    std::fs::create_dir_all("/tmp/cache").unwrap();
    rustix::mount::mount("tmpfs", "/tmp/cache", "tmpfs", rustix::mount::MountFlags::empty(), c"size=1m").unwrap();
    std::fs::write("/tmp/cache/blob", vec![0u8; 4096]).unwrap();
}

#[isolated_test]
fn turns_on_ip_forwarding() {
    std::fs::write("/proc/sys/net/ipv4/ip_forward", "1").unwrap();
    let status = Command::new("ip").args(["link", "add", "br-test", "type", "bridge"]).status().unwrap();
    assert!(status.success());
}

#[isolated_test]
fn leaves_a_daemon_behind() {
    Command::new("sh").args(["-c", "setsid sleep 600 > /dev/null 2>&1 &"]).status().unwrap();
    // Returning is enough: the sandbox's PID namespace dies with the test.
}

#[isolated_test(timeout = "20s")]
async fn async_echo_server() -> std::io::Result<()> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:7000").await?;
    let server = tokio::spawn(async move {
        let (mut conn, _) = listener.accept().await?;
        let mut buf = [0u8; 5];
        conn.read_exact(&mut buf).await?;
        conn.write_all(&buf).await?;
        Ok::<_, std::io::Error>(())
    });
    let mut client = tokio::net::TcpStream::connect("127.0.0.1:7000").await?;
    client.write_all(b"hello").await?;
    let mut echo = [0u8; 5];
    client.read_exact(&mut echo).await?;
    assert_eq!(&echo, b"hello");
    server.await.unwrap()
}

/// Needs the kernel's netem qdisc: `scripts/example.sh` runs it where the
/// kernel has one and says so where it has not.
#[isolated_test(timeout = "60s")]
#[ignore = "needs the netem qdisc (sch_netem); scripts/example.sh runs it where the kernel has it"]
fn client_retries_over_a_lossy_link() {
    use isolated_test::net::{LinkSpec, Network};
    use std::net::UdpSocket;
    use std::time::Duration;

    // 30 % of the packets lost each way, 20 ms each way.
    let lossy = LinkSpec::new().delay(Duration::from_millis(20)).loss(30.0);
    let net = Network::builder().node("server").node("client").link("client", "server", lossy).build().unwrap();
    let ip = net.ip("server");
    let server = net.node("server").run(move || UdpSocket::bind((ip, 5300))).unwrap();
    std::thread::spawn(move || {
        let mut buf = [0u8; 64];
        while let Ok((n, from)) = server.recv_from(&mut buf) {
            let _ = server.send_to(&buf[..n], from);
        }
    });
    let client = net.node("client").run(|| UdpSocket::bind(("0.0.0.0", 0))).unwrap();
    client.set_read_timeout(Some(Duration::from_millis(150))).unwrap();
    let (mut answered, mut retries) = (0, 0);
    for request in 0..20u8 {
        for _attempt in 0..20 {
            client.send_to(&[request], (ip, 5300)).unwrap();
            let mut buf = [0u8; 64];
            match client.recv_from(&mut buf) {
                Ok((1, _)) if buf[0] == request => {
                    answered += 1;
                    break;
                }
                _ => retries += 1,
            }
        }
    }
    println!("{answered} of 20 requests answered over a 30% lossy link, after {retries} retries");
    assert_eq!(answered, 20);
}
