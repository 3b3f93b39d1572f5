//! Floating IP and gratuitous ARP / unsolicited NA for real, in network namespaces this test creates (root only).

mod actuate_support;

use std::time::{Duration, Instant};

use actuate_support::{netns_unavailable, Lan, VIP, VIP6, VIP6_CIDR, VIP_CIDR};
use astha::actuate::config::FloatingIpConfig;
use astha::actuate::FloatingIp;

fn config(addr: &str) -> FloatingIpConfig {
    FloatingIpConfig {
        interface: "eth0".into(),
        addresses: vec![addr.parse().unwrap()],
        garp_count: 3,
        garp_interval_ms: 5,
        garp_repeat_after_ms: 2000,
    }
}

/// The floating IP `addr` of the host whose network namespace is `ns`.
async fn open_in(
    ns: &str,
    cfg: FloatingIpConfig,
) -> Result<FloatingIp, astha::actuate::floating_ip::IpError> {
    FloatingIp::open_in_netns(cfg, &Lan::netns_path(ns)).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_address_moves_and_the_client_follows_the_gratuitous_arp() {
    if let Some(why) = netns_unavailable() {
        println!("SKIP the_address_moves_and_the_client_follows_the_gratuitous_arp: {why}");
        return;
    }
    let lan = Lan::new("fip4");
    let a = open_in(&lan.a, config(VIP_CIDR)).await.unwrap();
    let b = open_in(&lan.b, config(VIP_CIDR)).await.unwrap();
    let (mac_a, mac_b) = (lan.mac(&lan.a), lan.mac(&lan.b));

    a.add().await.unwrap();
    a.add().await.unwrap(); // EEXIST is success
    assert!(a.is_present().await.unwrap());
    assert!(!b.is_present().await.unwrap());
    assert!(lan.client_ping(VIP), "client cannot reach the VIP on a");
    assert_eq!(lan.client_neighbour(VIP).as_deref(), Some(mac_a.as_str()));

    let t0 = Instant::now();
    a.remove().await.unwrap();
    b.add().await.unwrap();
    let actuated = t0.elapsed();
    let followed = Lan::wait_for(Duration::from_secs(5), || {
        lan.client_neighbour(VIP).as_deref() == Some(mac_b.as_str())
    });
    let followed = followed.map(|d| d + actuated);
    println!(
        "floating IP moved a->b: remove+add+GARP {:.2} ms; client neighbour -> b after {:?} ms (target < 100 ms)",
        actuated.as_secs_f64() * 1e3,
        followed.map(|d| d.as_secs_f64() * 1e3)
    );
    assert!(
        followed.is_some(),
        "client neighbour table did not follow the move: {:?}",
        lan.client_neighbour(VIP)
    );
    assert!(!a.is_present().await.unwrap());
    assert!(b.is_present().await.unwrap());
    assert!(lan.client_ping(VIP), "client cannot reach the VIP on b");

    a.remove().await.unwrap(); // EADDRNOTAVAIL is success
    b.remove().await.unwrap();
    assert!(!b.is_present().await.unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ipv6_address_moves_with_unsolicited_neighbour_advertisements() {
    if let Some(why) = netns_unavailable() {
        println!("SKIP an_ipv6_address_moves_with_unsolicited_neighbour_advertisements: {why}");
        return;
    }
    let lan = Lan::new("fip6");
    let a = open_in(&lan.a, config(VIP6_CIDR)).await.unwrap();
    let b = open_in(&lan.b, config(VIP6_CIDR)).await.unwrap();
    let (mac_a, mac_b) = (lan.mac(&lan.a), lan.mac(&lan.b));
    a.add().await.unwrap();
    assert!(
        Lan::wait_for(Duration::from_secs(5), || lan.client_ping(VIP6)).is_some(),
        "client cannot reach the IPv6 VIP on a"
    );
    assert_eq!(lan.client_neighbour(VIP6).as_deref(), Some(mac_a.as_str()));
    let t0 = Instant::now();
    a.remove().await.unwrap();
    b.add().await.unwrap();
    let followed = Lan::wait_for(Duration::from_secs(5), || {
        lan.client_neighbour(VIP6).as_deref() == Some(mac_b.as_str())
    });
    println!(
        "IPv6 VIP moved a->b; client neighbour -> b after {:?} ms",
        followed.map(|_| t0.elapsed().as_secs_f64() * 1e3)
    );
    assert!(
        followed.is_some(),
        "client IPv6 neighbour did not follow: {:?}",
        lan.client_neighbour(VIP6)
    );
}

#[tokio::test]
async fn a_missing_interface_is_a_clear_error() {
    if let Some(why) = netns_unavailable() {
        println!("SKIP a_missing_interface_is_a_clear_error: {why}");
        return;
    }
    let lan = Lan::new("fipx");
    let mut cfg = config(VIP_CIDR);
    cfg.interface = "nosuch0".into();
    let err = open_in(&lan.a, cfg).await.unwrap_err();
    assert!(err.to_string().contains("nosuch0"), "{err}");
}

/// The daemon may itself be started inside a namespace: a thread that joined it, with its own
/// current-thread runtime, drives the actuator opened the way the daemon opens it.
#[test]
fn works_from_a_thread_that_joined_the_namespace() {
    if let Some(why) = netns_unavailable() {
        println!("SKIP works_from_a_thread_that_joined_the_namespace: {why}");
        return;
    }
    let lan = Lan::new("fipt");
    let path = Lan::netns_path(&lan.a);
    let present = std::thread::spawn(move || {
        astha::actuate::netns::enter_netns_for_this_thread(&path).unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let ip = FloatingIp::open(config(VIP_CIDR)).await.unwrap();
            ip.add().await.unwrap();
            ip.is_present().await.unwrap()
        })
    })
    .join()
    .unwrap();
    assert!(present);
    assert!(lan.client_ping(VIP), "the VIP answers from a");
}
