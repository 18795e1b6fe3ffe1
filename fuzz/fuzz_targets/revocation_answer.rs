//! IVS's answers to revocation calls (`device::revocation::read_answer`): a batch answer's
//! `errors`, the error type of a failure, fed into the ledger, which must neither lose nor invent
//! a revocation whatever the answer says.
#![no_main]
use ivs_token_worker::device::ledger::{CallOutcome, ChannelRef, Ledger, Policy};
use ivs_token_worker::device::revocation::read_answer;
use ivs_token_worker::device::settings::OnLimit;
use libfuzzer_sys::fuzz_target;

const NOW: u64 = ivs_token_worker_fuzz::NOW;

fuzz_target!(|data: &[u8]| {
    let Some((&status, rest)) = data.split_first() else { return };
    let text = String::from_utf8_lossy(rest);
    let (error_type, body) = text.split_once('\n').unwrap_or(("", &text));
    let status = [200, 400, 403, 404, 429, 500, 503][usize::from(status) % 7];
    let mut ledger = Ledger::new("5bdcc146bf60754e6a042426089575c75a003f08");
    let policy = Policy { limit: 1, on_limit: OnLimit::Refuse, idle_seconds: 90 };
    for id in ["a", "b", "c"] {
        let arn = format!("arn:aws:ivs:us-west-2:123456789012:channel/{id}");
        ledger.admit("device-1", ChannelRef { name: id, arn: &arn }, policy, false, NOW);
    }
    ledger.admit(
        "device-2",
        ChannelRef { name: "a", arn: "arn:aws:ivs:us-west-2:123456789012:channel/a" },
        policy,
        true,
        NOW,
    );
    let call = ledger.due_revocations(NOW, 20).expect("three revocations are due");
    let outcome = read_answer(&call, status, (!error_type.is_empty()).then_some(error_type), body);
    if let CallOutcome::Status { code: Some(code), .. } = &outcome {
        assert!(code.len() <= 64 && code.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.'), "{code}");
    }
    ledger.revocation_result(&call, &outcome, NOW, 12345);
    let events = ledger.take_events();
    let dropped = events
        .iter()
        .filter(|e| matches!(e, ivs_token_worker::device::ledger::Event::RevocationDropped { .. }))
        .count();
    let accepted = events
        .iter()
        .filter(|e| matches!(e, ivs_token_worker::device::ledger::Event::RevocationAccepted { .. }))
        .count();
    assert_eq!(ledger.revocations.len() + dropped + accepted, 3, "{outcome:?}");
    if status != 200 && status != 400 && status != 404 {
        assert_eq!(ledger.revocations.len(), 3, "{status}: retried, never dropped");
    }
});
