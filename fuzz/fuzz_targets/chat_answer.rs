//! IVS Chat's answers (`chat::api::read_create_answer` to `CreateChatToken`,
//! `device::ledger::KickOutcome::of_answer` to `DisconnectUser`): a token only from a complete
//! `200`, a retry only for what is worth one, no AWS message kept, and a ledger owing two chat
//! disconnects that neither loses nor invents one whatever the answer says.
#![no_main]
use ivs_token_worker::chat::api::{read_create_answer, ChatToken, Created};
use ivs_token_worker::device::ledger::{Event, KickOutcome, Ledger};
use libfuzzer_sys::fuzz_target;

const NOW: u64 = ivs_token_worker_fuzz::NOW;

fuzz_target!(|data: &[u8]| {
    let Some((&status, rest)) = data.split_first() else { return };
    let text = String::from_utf8_lossy(rest);
    let (error_type, body) = text.split_once('\n').unwrap_or(("", &text));
    let error_type = (!error_type.is_empty()).then_some(error_type);
    let status = [200, 204, 400, 403, 404, 409, 429, 500, 503][usize::from(status) % 9];

    match read_create_answer(status, error_type, body) {
        Created::Token(token) => {
            assert_eq!(status, 200);
            // Debug shows the same whatever the token: it is not in it.
            let other = ChatToken { token: "other".into(), ..token.clone() };
            assert!(!token.token.is_empty() && format!("{token:?}") == format!("{other:?}"), "Debug hides the token");
        }
        Created::Retry { status: seen, code } => {
            assert_eq!(seen, status);
            assert!(matches!(status, 200 | 429 | 500..), "{status} retried");
            check_code(code.as_deref());
        }
        Created::Refused { status: seen, code } => {
            assert_eq!(seen, status);
            assert!(!matches!(status, 200 | 429 | 500..), "{status} refused for good");
            check_code(code.as_deref());
        }
    }

    let mut ledger = Ledger::new("5bdcc146bf60754e6a042426089575c75a003f08");
    let rooms = ["arn:aws:ivschat:us-west-2:123456789012:room/a", "arn:aws:ivschat:eu-west-1:123456789012:room/b"];
    ledger.queue_kicks(&rooms.map(str::to_owned), NOW);
    let call = ledger.due_kick(NOW).expect("two kicks are due");
    let outcome = KickOutcome::of_answer(status, error_type, body);
    if let KickOutcome::Retry(reason) | KickOutcome::Drop(reason) = &outcome {
        // Only the status and an error type, never AWS's message: `HTTP 429 ThrottlingException`.
        let mut words = reason.split(' ');
        assert_eq!(words.next(), Some("HTTP"), "{reason}");
        assert_eq!(words.next(), Some(status.to_string().as_str()), "{reason}");
        check_code(words.next());
        assert_eq!(words.next(), None, "AWS's text kept: {reason}");
    }
    ledger.kick_result(call.id, &outcome, NOW, 12345);
    let events = ledger.take_events();
    let ended = events
        .iter()
        .filter(|e| matches!(e, Event::ChatDisconnected { .. } | Event::ChatDisconnectDropped { .. }))
        .count();
    assert_eq!(ledger.kicks.len() + ended, 2, "{outcome:?}");
    if matches!(status, 403 | 409 | 429 | 500..) {
        assert_eq!(ledger.kicks.len(), 2, "{status}: retried, never dropped");
    }
});

/// An error type that reaches a log line is a plain identifier.
fn check_code(code: Option<&str>) {
    if let Some(code) = code {
        assert!(code.len() <= 64 && code.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.'), "{code}");
    }
}
