//! The tests of [`super`]: the exact JSON written before the readers were hand-written, and
//! what chat added to it.

use crate::device::ledger::*;
use crate::device::object::*;
use crate::device::settings::OnLimit;
use serde::{de::DeserializeOwned, Serialize};
use std::collections::BTreeMap;
use std::fmt::Debug;

/// What the derived `Serialize` and `Deserialize` wrote and read before the readers were
/// written by hand (captured from that code): every command (in an envelope too), every reply
/// and decision, and a ledger with every field set.
const COMMANDS: &[&str] = &[
    r#"{"op":"admit","device":"tv-livingroom","channel":{"name":"demo","arn":"arn:aws:ivs:us-west-2:123456789012:channel/demo1"},"policy":{"limit":2,"on_limit":"refuse","idle_seconds":90},"takeover":false}"#,
    r#"{"op":"admit","device":"phone-1234","channel":{"name":"news","arn":"arn:aws:ivs:eu-west-1:123456789012:channel/news2"},"policy":{"limit":4294967295,"on_limit":"evict-oldest","idle_seconds":3600},"takeover":true}"#,
    r#"{"op":"heartbeat","device":"tv-livingroom","channel":{"name":"demo","arn":"arn:aws:ivs:us-west-2:123456789012:channel/demo1"}}"#,
    r#"{"op":"release","device":"tv-livingroom"}"#,
    r#"{"op":"revoke","channel":null,"channels":[],"block_seconds":null}"#,
    r#"{"op":"revoke","channel":{"name":"demo","arn":"arn:aws:ivs:us-west-2:123456789012:channel/demo1"},"channels":[{"name":"demo","arn":"arn:aws:ivs:us-west-2:123456789012:channel/demo1"},{"name":"news","arn":"arn:aws:ivs:eu-west-1:123456789012:channel/news2"}],"block_seconds":3600}"#,
    r#"{"op":"unblock","channel":null}"#,
    r#"{"op":"unblock","channel":"demo"}"#,
    r#"{"op":"list","idle_seconds":90}"#,
];
const ENVELOPES: &[&str] = &[
    r#"{"viewer_id":"5bdcc146bf60754e6a042426089575c75a003f08","command":{"op":"admit","device":"tv-livingroom","channel":{"name":"demo","arn":"arn:aws:ivs:us-west-2:123456789012:channel/demo1"},"policy":{"limit":2,"on_limit":"refuse","idle_seconds":90},"takeover":false}}"#,
    r#"{"viewer_id":"5bdcc146bf60754e6a042426089575c75a003f08","command":{"op":"admit","device":"phone-1234","channel":{"name":"news","arn":"arn:aws:ivs:eu-west-1:123456789012:channel/news2"},"policy":{"limit":4294967295,"on_limit":"evict-oldest","idle_seconds":3600},"takeover":true}}"#,
    r#"{"viewer_id":"5bdcc146bf60754e6a042426089575c75a003f08","command":{"op":"heartbeat","device":"tv-livingroom","channel":{"name":"demo","arn":"arn:aws:ivs:us-west-2:123456789012:channel/demo1"}}}"#,
    r#"{"viewer_id":"5bdcc146bf60754e6a042426089575c75a003f08","command":{"op":"release","device":"tv-livingroom"}}"#,
    r#"{"viewer_id":"5bdcc146bf60754e6a042426089575c75a003f08","command":{"op":"revoke","channel":null,"channels":[],"block_seconds":null}}"#,
    r#"{"viewer_id":"5bdcc146bf60754e6a042426089575c75a003f08","command":{"op":"revoke","channel":{"name":"demo","arn":"arn:aws:ivs:us-west-2:123456789012:channel/demo1"},"channels":[{"name":"demo","arn":"arn:aws:ivs:us-west-2:123456789012:channel/demo1"},{"name":"news","arn":"arn:aws:ivs:eu-west-1:123456789012:channel/news2"}],"block_seconds":3600}}"#,
    r#"{"viewer_id":"5bdcc146bf60754e6a042426089575c75a003f08","command":{"op":"unblock","channel":null}}"#,
    r#"{"viewer_id":"5bdcc146bf60754e6a042426089575c75a003f08","command":{"op":"unblock","channel":"demo"}}"#,
    r#"{"viewer_id":"5bdcc146bf60754e6a042426089575c75a003f08","command":{"op":"list","idle_seconds":90}}"#,
];
const REPLIES: &[&str] = &[
    r#"{"reply":"decision","decision":{"decision":"admitted","version":1800000000,"renewed":false,"evicted":[]}}"#,
    r#"{"reply":"decision","decision":{"decision":"admitted","version":-3,"renewed":true,"evicted":["device-aaaa","device-bbbb"]}}"#,
    r#"{"reply":"decision","decision":{"decision":"refused","in_use":2,"limit":2}}"#,
    r#"{"reply":"decision","decision":{"decision":"blocked","until":1800003600}}"#,
    r#"{"reply":"decision","decision":{"decision":"exhausted"}}"#,
    r#"{"reply":"decision","decision":{"decision":"too-fast","retry_after":15}}"#,
    r#"{"reply":"heartbeat","state":"held"}"#,
    r#"{"reply":"heartbeat","state":"evicted"}"#,
    r#"{"reply":"released","held":true}"#,
    r#"{"reply":"released","held":false}"#,
    r#"{"reply":"revoked","revoked":{"devices":[],"channels":[],"version":7,"blocked_until":null}}"#,
    r#"{"reply":"revoked","revoked":{"devices":["device-aaaa"],"channels":["demo","news"],"version":1800000001,"blocked_until":1800003600}}"#,
    r#"{"reply":"unblocked","unblocked":{"lifted":false,"blocked_until":null,"blocked_channels":{}}}"#,
    r#"{"reply":"unblocked","unblocked":{"lifted":true,"blocked_until":1800000600,"blocked_channels":{"demo":1800000060,"news":1800000120}}}"#,
    r#"{"reply":"devices","devices":[],"pending_revocations":0,"blocked_until":null,"blocked_channels":{}}"#,
    r#"{"reply":"devices","devices":[{"device":"tv-livingroom","channels":["demo"],"admitted_at":1800000000,"last_seen":1800000050,"idle":false},{"device":"phone-1234","channels":["demo","news"],"admitted_at":1800000010,"last_seen":1800000011,"idle":true}],"pending_revocations":3,"blocked_until":1800000600,"blocked_channels":{"demo":1800000060,"news":1800000120}}"#,
];
const LEDGERS: &[&str] = &[
    r#"{"viewer_id":"5bdcc146bf60754e6a042426089575c75a003f08","devices":[{"id":"phone-1234","version":1800000002,"admitted_at":1800000002,"last_seen":1800000004,"released":true,"holds":{"arn:aws:ivs:us-west-2:123456789012:channel/demo1":{"channel":"demo","version":1800000002,"since":1800000002}}},{"id":"laptop-5678","version":1800000003,"admitted_at":1800000003,"last_seen":1800000003,"released":false,"holds":{"arn:aws:ivs:us-west-2:123456789012:channel/demo1":{"channel":"demo","version":1800000003,"since":1800000003}}}],"last_version":1800000005,"clock_high":1800000003,"revoked_through":{"arn:aws:ivs:eu-west-1:123456789012:channel/news2":1800000005,"arn:aws:ivs:us-west-2:123456789012:channel/demo1":1800000000},"revocations":[{"id":0,"channel_arn":"arn:aws:ivs:eu-west-1:123456789012:channel/news2","channel":"news","version":1800000000,"reason":"evicted","devices":["tv-livingroom"],"queued_at":1800000003,"attempts":3,"next_attempt_at":1800000003,"leased_until":1800000066,"alone":true,"last_error":"ThrottlingException (HTTP 429)"},{"id":1,"channel_arn":"arn:aws:ivs:us-west-2:123456789012:channel/demo1","channel":"demo","version":1800000000,"reason":"idle","devices":["tv-livingroom"],"queued_at":1800000003,"attempts":0,"next_attempt_at":1800000003,"leased_until":null,"alone":false,"last_error":null},{"id":2,"channel_arn":"arn:aws:ivs:eu-west-1:123456789012:channel/news2","channel":"news","version":1800000005,"reason":"operator","devices":[],"queued_at":1800000005,"attempts":0,"next_attempt_at":1800000005,"leased_until":null,"alone":false,"last_error":null}],"next_revocation_id":3,"last_call_at":1800000006,"blocked_until":1800009999,"blocked_channels":{"news":1800003600}}"#,
    r#"{"viewer_id":"viewer","devices":[],"last_version":0,"clock_high":0,"revoked_through":{},"revocations":[],"next_revocation_id":0,"last_call_at":null,"blocked_until":null,"blocked_channels":{}}"#,
];

const VIEWER: &str = "5bdcc146bf60754e6a042426089575c75a003f08";

fn demo() -> ChannelKey {
    ChannelKey { name: "demo".into(), arn: "arn:aws:ivs:us-west-2:123456789012:channel/demo1".into() }
}

fn news() -> ChannelKey {
    ChannelKey { name: "news".into(), arn: "arn:aws:ivs:eu-west-1:123456789012:channel/news2".into() }
}

fn refuse() -> Policy {
    Policy { limit: 2, on_limit: OnLimit::Refuse, idle_seconds: 90 }
}

fn commands() -> Vec<Command> {
    let evict = Policy { limit: u32::MAX, on_limit: OnLimit::EvictOldest, idle_seconds: 3600 };
    vec![
        Command::Admit { device: "tv-livingroom".into(), channel: demo(), policy: refuse(), takeover: false },
        Command::Admit { device: "phone-1234".into(), channel: news(), policy: evict, takeover: true },
        Command::Heartbeat { device: "tv-livingroom".into(), channel: demo() },
        Command::Release { device: "tv-livingroom".into() },
        Command::Revoke { channel: None, channels: vec![], block_seconds: None, rooms: vec![] },
        Command::Revoke {
            channel: Some(demo()),
            channels: vec![demo(), news()],
            block_seconds: Some(3600),
            rooms: vec![],
        },
        Command::Unblock { channel: None },
        Command::Unblock { channel: Some("demo".into()) },
        Command::List { idle_seconds: 90 },
    ]
}

fn replies() -> Vec<Reply> {
    let decisions = [
        Decision::Admitted { version: 1_800_000_000, renewed: false, evicted: vec![] },
        Decision::Admitted { version: -3, renewed: true, evicted: vec!["device-aaaa".into(), "device-bbbb".into()] },
        Decision::Refused { in_use: 2, limit: 2 },
        Decision::Blocked { until: 1_800_003_600 },
        Decision::Exhausted,
        Decision::TooFast { retry_after: 15 },
    ];
    let blocked = BTreeMap::from([("demo".to_owned(), 1_800_000_060), ("news".to_owned(), 1_800_000_120)]);
    let view = |device: &str, channels: &[&str], admitted_at, last_seen, idle| DeviceView {
        device: device.into(),
        channels: channels.iter().map(|c| c.to_string()).collect(),
        admitted_at,
        last_seen,
        idle,
    };
    let mut replies: Vec<Reply> = decisions.into_iter().map(|decision| Reply::Decision { decision }).collect();
    replies.extend([
        Reply::Heartbeat { state: Heartbeat::Held },
        Reply::Heartbeat { state: Heartbeat::Evicted },
        Reply::Released { held: true },
        Reply::Released { held: false },
        Reply::Revoked {
            revoked: Revoked { devices: vec![], channels: vec![], version: 7, blocked_until: None, rooms: vec![] },
        },
        Reply::Revoked {
            revoked: Revoked {
                devices: vec!["device-aaaa".into()],
                channels: vec!["demo".into(), "news".into()],
                version: 1_800_000_001,
                blocked_until: Some(1_800_003_600),
                rooms: vec![],
            },
        },
        Reply::Unblocked {
            unblocked: Unblocked { lifted: false, blocked_until: None, blocked_channels: BTreeMap::new() },
        },
        Reply::Unblocked {
            unblocked: Unblocked {
                lifted: true,
                blocked_until: Some(1_800_000_600),
                blocked_channels: blocked.clone(),
            },
        },
        Reply::Devices {
            devices: vec![],
            pending_revocations: 0,
            blocked_until: None,
            blocked_channels: BTreeMap::new(),
        },
        Reply::Devices {
            devices: vec![
                view("tv-livingroom", &["demo"], 1_800_000_000, 1_800_000_050, false),
                view("phone-1234", &["demo", "news"], 1_800_000_010, 1_800_000_011, true),
            ],
            pending_revocations: 3,
            blocked_until: Some(1_800_000_600),
            blocked_channels: blocked,
        },
    ]);
    replies
}

/// A ledger with every field set: devices (one released) holding channels, revocations of
/// every reason (one leased, alone, with an error), blocks, the call clock.
fn full_ledger() -> Ledger {
    let mut ledger = Ledger::new(VIEWER);
    let c1 = ChannelRef { name: "demo", arn: "arn:aws:ivs:us-west-2:123456789012:channel/demo1" };
    let c2 = ChannelRef { name: "news", arn: "arn:aws:ivs:eu-west-1:123456789012:channel/news2" };
    ledger.admit("tv-livingroom", c1, refuse(), false, 1_800_000_000);
    ledger.admit("tv-livingroom", c2, refuse(), false, 1_800_000_001);
    ledger.admit("phone-1234", c1, refuse(), false, 1_800_000_002);
    ledger.admit("laptop-5678", c1, refuse(), true, 1_800_000_003);
    ledger.release("phone-1234", 1_800_000_004);
    ledger.revoke_viewer(RevokeScope::Channel(c2), Some(1_800_003_600), 1_800_000_005);
    ledger.take_events();
    ledger.last_call_at = Some(1_800_000_006);
    ledger.blocked_until = Some(1_800_009_999);
    ledger.revocations[0].leased_until = Some(1_800_000_066);
    ledger.revocations[0].alone = true;
    ledger.revocations[0].last_error = Some("ThrottlingException (HTTP 429)".into());
    ledger.revocations[0].attempts = 3;
    ledger.revocations[1].reason = Reason::Idle;
    ledger
}

/// `value` is written as `golden` exactly, and `golden` reads back as `value`.
fn same<T: Serialize + DeserializeOwned + PartialEq + Debug>(value: &T, golden: &str) {
    assert_eq!(serde_json::to_string(value).unwrap(), golden, "written as before");
    assert_eq!(&serde_json::from_str::<T>(golden).unwrap(), value, "read as before: {golden}");
}

#[test]
fn every_command_reply_and_ledger_is_the_json_of_before() {
    assert_eq!(commands().len(), COMMANDS.len());
    for (command, golden) in commands().iter().zip(COMMANDS) {
        same(command, golden);
    }
    assert_eq!(commands().len(), ENVELOPES.len());
    for (command, golden) in commands().into_iter().zip(ENVELOPES) {
        same(&Envelope { viewer_id: VIEWER.into(), command }, golden);
    }
    assert_eq!(replies().len(), REPLIES.len());
    for (reply, golden) in replies().iter().zip(REPLIES) {
        same(reply, golden);
    }
    same(&full_ledger(), LEDGERS[0]);
    same(&Ledger::new("viewer"), LEDGERS[1]);
}

/// Chat (issue 25) added to the ledger's JSON without changing what a ledger, command or
/// reply without chat writes (above): a chat command and its verdicts, a revocation's rooms,
/// the floor's window and the queued disconnects, each read back as written.
#[test]
fn chat_fields_are_written_only_when_used_and_read_back() {
    const ROOM: &str = "arn:aws:ivschat:us-west-2:123456789012:room/abc";
    same(&Command::Chat { channel: "demo".into() }, r#"{"op":"chat","channel":"demo"}"#);
    same(
        &Command::Revoke { channel: None, channels: vec![], block_seconds: None, rooms: vec![ROOM.into()] },
        &format!(r#"{{"op":"revoke","channel":null,"channels":[],"block_seconds":null,"rooms":["{ROOM}"]}}"#),
    );
    for (verdict, golden) in [
        (ChatVerdict::Allowed, r#"{"reply":"chat","verdict":{"verdict":"allowed"}}"#),
        (ChatVerdict::Blocked { until: 9 }, r#"{"reply":"chat","verdict":{"verdict":"blocked","until":9}}"#),
        (
            ChatVerdict::TooFast { retry_after: 4 },
            r#"{"reply":"chat","verdict":{"verdict":"too-fast","retry_after":4}}"#,
        ),
    ] {
        same(&Reply::Chat { verdict }, golden);
    }
    let revoked =
        Revoked { devices: vec![], channels: vec![], version: 7, blocked_until: None, rooms: vec![ROOM.into()] };
    same(
        &Reply::Revoked { revoked },
        &format!(
            r#"{{"reply":"revoked","revoked":{{"devices":[],"channels":[],"version":7,"blocked_until":null,"rooms":["{ROOM}"]}}}}"#
        ),
    );
    same(
        &chat_ledger(),
        &format!(
            r#"{{"viewer_id":"viewer","devices":[],"last_version":0,"clock_high":0,"revoked_through":{{}},"revocations":[],"next_revocation_id":0,"last_call_at":null,"blocked_until":null,"blocked_channels":{{}},"chat_window":[1800000000,3],"kicks":[{{"id":0,"room_arn":"{ROOM}","queued_at":1800000000,"attempts":2,"next_attempt_at":1800000009,"leased_until":1800000060}}],"next_kick_id":1}}"#
        ),
    );
    assert!(serde_json::from_str::<Ledger>(r#"{"chat_window":[1,2,3]}"#).is_err());
}

/// A ledger with every chat field set.
fn chat_ledger() -> Ledger {
    let mut ledger = Ledger::new("viewer");
    ledger.chat_window = Some((1_800_000_000, 3));
    ledger.queue_kicks(&["arn:aws:ivschat:us-west-2:123456789012:room/abc".to_owned()], 1_800_000_000);
    ledger.kicks[0].attempts = 2;
    ledger.kicks[0].next_attempt_at = 1_800_000_009;
    ledger.kicks[0].leased_until = Some(1_800_000_060);
    ledger
}

/// Every field the derived `Serialize` writes is one its reader here reads: a field added to
/// a type (the ledger above all) fails this test until `device::wire` reads it too; else a
/// restarted object would load it as its default.
#[test]
fn the_readers_know_every_field_written() {
    fn keys<T: Serialize>(value: &T) -> Vec<String> {
        let value = serde_json::to_value(value).unwrap();
        value.as_object().unwrap().keys().cloned().collect()
    }
    let ledger = full_ledger();
    let read = [
        (keys(&ledger), "blocked_channels blocked_until clock_high devices last_call_at last_version next_revocation_id revocations revoked_through viewer_id"),
        (keys(&ledger.devices[0]), "admitted_at holds id last_seen released version"),
        (keys(ledger.devices[0].holds.values().next().unwrap()), "channel since version"),
        (keys(&ledger.revocations[0]), "alone attempts channel channel_arn devices id last_error leased_until next_attempt_at queued_at reason version"),
        (keys(&Envelope { viewer_id: VIEWER.into(), command: Command::List { idle_seconds: 1 } }), "command viewer_id"),
        (keys(&demo()), "arn name"),
        (keys(&refuse()), "idle_seconds limit on_limit"),
        (keys(&chat_ledger()), "blocked_channels blocked_until chat_window clock_high devices kicks last_call_at last_version next_kick_id next_revocation_id revocations revoked_through viewer_id"),
        (keys(&chat_ledger().kicks[0]), "attempts id leased_until next_attempt_at queued_at room_arn"),
    ];
    for (written, reader) in read {
        let mut written = written;
        written.sort();
        assert_eq!(written.join(" "), reader, "a field is written that device::wire does not read");
    }
}

/// Objects stored before fields were added still load: missing `#[serde(default)]` fields
/// (and every missing field of the ledger) take their defaults, missing `Option`s are `None`.
#[test]
fn older_ledgers_load_with_defaults() {
    let old = r#"{"viewer_id":"v","devices":[{"id":"d","version":5,"admitted_at":1,"last_seen":2,"holds":{}}],"revocations":[{"id":0,"channel_arn":"arn","channel":"c","version":4,"reason":"operator","devices":[],"queued_at":1,"attempts":0,"next_attempt_at":1}]}"#;
    let ledger: Ledger = serde_json::from_str(old).unwrap();
    let mut expected = Ledger::new("v");
    expected.devices.push(Device {
        id: "d".into(),
        version: 5,
        admitted_at: 1,
        last_seen: 2,
        released: false,
        holds: BTreeMap::new(),
    });
    expected.revocations.push(Revocation {
        id: 0,
        channel_arn: "arn".into(),
        channel: "c".into(),
        version: 4,
        reason: Reason::Operator,
        devices: vec![],
        queued_at: 1,
        attempts: 0,
        next_attempt_at: 1,
        leased_until: None,
        alone: false,
        last_error: None,
    });
    assert_eq!(ledger, expected);
    assert_eq!(serde_json::from_str::<Ledger>("{}").unwrap(), Ledger::default());
    // Unknown fields are ignored, as the derived code did.
    let newer = LEDGERS[1].replacen('{', r#"{"a_later_field":[1,2],"#, 1);
    assert_eq!(serde_json::from_str::<Ledger>(&newer).unwrap(), Ledger::new("viewer"));
}

/// What the derived code refused is refused: wrong types, missing fields, unknown tags,
/// integers out of range, `null` where no `Option` is.
#[test]
fn malformed_json_is_refused() {
    for bad in [
        r#"{"op":"admit","device":"d","channel":{"name":"n","arn":"a"},"policy":{"limit":2,"on_limit":"refuse","idle_seconds":90}}"#,
        r#"{"op":"admit","device":"d","channel":{"name":"n","arn":"a"},"policy":{"limit":4294967296,"on_limit":"refuse","idle_seconds":90},"takeover":false}"#,
        r#"{"op":"admit","device":"d","channel":{"name":"n","arn":"a"},"policy":{"limit":2,"on_limit":"never","idle_seconds":90},"takeover":false}"#,
        r#"{"op":"release","device":7}"#,
        r#"{"op":"release","device":null}"#,
        r#"{"op":"list","idle_seconds":-1}"#,
        r#"{"op":"list","idle_seconds":1.5}"#,
        r#"{"op":"shutdown"}"#,
        r#"{"device":"d"}"#,
    ] {
        assert!(serde_json::from_str::<Command>(bad).is_err(), "{bad}");
    }
    for bad in [
        r#"{"reply":"decision","decision":{"decision":"maybe"}}"#,
        r#"{"reply":"heartbeat","state":"gone"}"#,
        r#"{"reply":"released"}"#,
        r#"{"reply":"devices","devices":[],"pending_revocations":0,"blocked_until":null}"#,
        r#"{"reply":"revoked","revoked":{"devices":[],"channels":[],"version":"7","blocked_until":null}}"#,
    ] {
        assert!(serde_json::from_str::<Reply>(bad).is_err(), "{bad}");
    }
    for bad in [r#"{"devices":null}"#, r#"{"last_version":"1"}"#, r#"{"revocations":[{"id":0}]}"#] {
        assert!(serde_json::from_str::<Ledger>(bad).is_err(), "{bad}");
    }
}
