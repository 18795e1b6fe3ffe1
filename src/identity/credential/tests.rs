//! The tests of [`super`]: `credential` end to end through the pure core.

use super::*;
use crate::http::problem::Problem;
use crate::identity::jwt::tests::{claims, mint, signer_jwk, ISSUER, NOW};
use crate::identity::keystore::Fetched;
use crate::identity::provider::parse_providers;
use crate::identity::session_cookie::{mint as mint_cookie, SessionClaims};
use serde_json::json;

const SECRET: &[u8] = b"credential-test-secret-0123456789abcdef";

/// An isolate's identity: the configuration and, beside it, the caches it fills.
struct Isolate {
    identity: Identity,
    caches: IdentityCaches,
}

impl Isolate {
    fn locate<'s, 'a>(&'s self, presented: &Presented<'a>) -> Located<'s, 'a> {
        self.identity.locate(&self.caches, presented)
    }

    fn session(&self, presented: &Presented<'_>, now: u64) -> Result<Session> {
        self.identity.session(&self.caches, presented, now)
    }
}

fn identity(providers: serde_json::Value, with_cookie: bool) -> Isolate {
    let identity = Identity {
        providers: parse_providers(&providers.to_string()).unwrap(),
        sessions: with_cookie.then(|| SessionSecrets::new(SECRET.to_vec(), None)),
        cookie_name: "session".into(),
    };
    Isolate { identity, caches: IdentityCaches::default() }
}

fn inline(extra: serde_json::Value) -> serde_json::Value {
    let mut p = json!({"issuer": ISSUER, "audience": "tv-app", "jwks": {"keys": [signer_jwk("k1")]}});
    p.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
    p
}

fn token(sub: &str) -> String {
    let mut c = claims();
    c["sub"] = json!(sub);
    mint(&json!({"alg": "ES384", "kid": "k1"}), &c)
}

fn expired() -> String {
    let mut c = claims();
    c["exp"] = json!(NOW - 3600);
    mint(&json!({"alg": "ES384", "kid": "k1"}), &c)
}

fn cookie(sub: &str) -> String {
    mint_cookie(&SessionClaims::new(sub, NOW, 3600), SECRET)
}

#[test]
fn precedence_bearer_then_headers_then_cookies_then_session() {
    let id =
        identity(json!({"idp": inline(json!({"token_from": ["bearer", "header:X-Id", "cookie:id_token"]}))}), true);
    let bearer = format!("Bearer {}", token("from-bearer"));
    let cookies = format!("session={}; id_token={}", cookie("from-session"), token("from-cookie"));
    let headers = [("x-id", token("from-header"))];
    let headers: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
    let all = Presented { authorization: Some(&bearer), cookie: Some(&cookies), headers: &headers };
    assert_eq!(id.session(&all, NOW).unwrap().sub, "from-bearer");
    assert_eq!(id.session(&Presented { authorization: None, ..all }, NOW).unwrap().sub, "from-header");
    assert_eq!(id.session(&Presented { authorization: None, headers: &[], ..all }, NOW).unwrap().sub, "from-cookie");
    let only_session = format!("session={}", cookie("from-session"));
    assert_eq!(
        id.session(&Presented { cookie: Some(&only_session), ..Default::default() }, NOW).unwrap().sub,
        "from-session"
    );
}

#[test]
fn an_invalid_credential_is_never_skipped_for_a_weaker_one() {
    let id = identity(json!({"idp": inline(json!({}))}), true);
    let good_cookie = format!("session={}", cookie("alice"));
    let bad_bearer = format!("Bearer {}", expired());
    let presented = Presented { authorization: Some(&bad_bearer), cookie: Some(&good_cookie), ..Default::default() };
    let error = id.session(&presented, NOW).unwrap_err();
    assert_eq!(error.slug(), "session-expired");
    assert!(
        error.to_string().starts_with("the credential in Authorization: Bearer was refused: provider `idp`"),
        "{error}"
    );
    let garbage = "Bearer not-a-jwt";
    let error = id
        .session(&Presented { authorization: Some(garbage), cookie: Some(&good_cookie), ..Default::default() }, NOW)
        .unwrap_err();
    assert_eq!((error.status(), error.slug()), (401, "session-invalid"));
    assert!(!error.to_string().contains("not-a-jwt"), "the token is never quoted");
    // A non-Bearer Authorization (Basic from a proxy) is not a credential for us.
    let basic =
        Presented { authorization: Some("Basic dXNlcjpwYXNz"), cookie: Some(&good_cookie), ..Default::default() };
    assert_eq!(id.session(&basic, NOW).unwrap().sub, "alice");
}

#[test]
fn tokens_are_routed_by_issuer() {
    let mut other = inline(json!({}));
    other["issuer"] = json!("https://other.example");
    let id = identity(json!({"a-idp": other, "b-idp": inline(json!({}))}), false);
    let bearer = format!("Bearer {}", token("bob"));
    assert_eq!(id.session(&Presented { authorization: Some(&bearer), ..Default::default() }, NOW).unwrap().sub, "bob");
    let mut c = claims();
    c["iss"] = json!("https://unknown.example");
    let stranger = format!("Bearer {}", mint(&json!({"alg": "ES384", "kid": "k1"}), &c));
    let error = id.session(&Presented { authorization: Some(&stranger), ..Default::default() }, NOW).unwrap_err();
    assert!(
        error.to_string().contains("not the issuer of any identity provider reading it here (a-idp, b-idp)"),
        "{error}"
    );
}

#[test]
fn same_named_cookies_one_account_wins_two_accounts_are_refused() {
    let id = identity(json!({}), true);
    let session = |header: &str| id.session(&Presented { cookie: Some(header), ..Default::default() }, NOW);
    let header = format!("session=stale.garbage.value; session={}", cookie("carol"));
    assert_eq!(session(&header).unwrap().sub, "carol");
    let bad = "session=a.b.c; session=d.e.f";
    assert_eq!(session(bad).unwrap_err().slug(), "session-invalid");
    // Issue 16, finding 5 (cookie tossing). Two cookies of one account: fine, whichever order.
    let twice =
        format!("session={}; session={}", cookie("carol"), mint_cookie(&SessionClaims::new("carol", NOW, 60), SECRET));
    assert_eq!(session(&twice).unwrap().sub, "carol");
    // Someone who can set a cookie on a parent domain puts their own valid session ahead of
    // the viewer's: refused, never chosen (the viewer would watch as them).
    let tossed = format!("session={}; session={}", cookie("mallory"), cookie("carol"));
    let error = session(&tossed).unwrap_err();
    assert_eq!((error.status(), error.slug()), (401, "session-invalid"));
    let detail = error.to_string();
    assert!(detail.contains("two session cookies for different accounts"), "{detail}");
    assert!(detail.contains("clear") && !detail.contains("mallory") && !detail.contains("carol"), "{detail}");
    // Malformed cookies ahead of the viewer's are skipped, not counted against the bound.
    let junk = format!("{}session={}", "session=junk; ".repeat(8), cookie("carol"));
    assert_eq!(session(&junk).unwrap().sub, "carol");
    let algorithm = format!("{}session={}", "session=eyJhbGciOiJub25lIn0.e30.; ".repeat(5), cookie("carol"));
    assert_eq!(session(&algorithm).unwrap().sub, "carol");
}

/// The same for an identity provider's cookie.
#[test]
fn same_named_provider_cookies() {
    let id = identity(json!({"idp": inline(json!({"token_from": ["cookie:id_token"]}))}), false);
    let session = |header: &str| id.session(&Presented { cookie: Some(header), ..Default::default() }, NOW);
    let junk = format!("{}id_token={}", "id_token=x.y.z; ".repeat(6), token("victor"));
    assert_eq!(session(&junk).unwrap().sub, "victor");
    let tossed = format!("id_token={}; id_token={}", token("mallory"), token("victor"));
    let error = session(&tossed).unwrap_err();
    assert_eq!(error.status(), 401);
    assert!(error.to_string().contains("two session cookies for different accounts"), "{error}");
    let only_junk = "id_token=x.y.z; id_token=a.b.c";
    assert!(session(only_junk).unwrap_err().to_string().contains("not base64url-encoded JSON"));
}

#[test]
fn the_platform_can_check_the_signature_and_the_core_still_checks_the_rest() {
    let id = identity(json!({"idp": inline(json!({}))}), false);
    let bearer = format!("Bearer {}", token("erin"));
    let presented = Presented { authorization: Some(&bearer), ..Default::default() };
    let checks = id.locate(&presented).signature_checks(NOW);
    assert_eq!(checks.len(), 1);
    let check = &checks[0];
    assert_eq!(check.alg, Algorithm::Es384);
    // What the platform is handed really is the key and input that verify this token.
    let key = super::super::jwk::PublicJwk::from_jwk(check.key.as_object().unwrap()).unwrap();
    assert!(key.verify(check.alg, check.signing_input.as_bytes(), &check.signature));
    let with_verdict = |id: &Isolate, presented: &Presented<'_>, valid: bool| {
        let mut located = id.locate(presented);
        for check in located.signature_checks(NOW) {
            located.record_verdict(&check, valid);
        }
        located.session(NOW)
    };
    let error = with_verdict(&id, &presented, false).unwrap_err();
    assert!(error.to_string().contains("signature does not verify"), "the platform's no is final: {error}");
    assert!(id.locate(&presented).signature_checks(NOW).is_empty(), "refused once: nothing left to check");
    // (An isolate that never heard the platform's no.)
    let id = identity(json!({"idp": inline(json!({}))}), false);
    assert_eq!(with_verdict(&id, &presented, true).unwrap().sub, "erin");
    assert!(id.locate(&presented).signature_checks(NOW).is_empty(), "verified once: nothing left to check");
    // A platform yes never skips the claims: an expired token stays refused.
    let stale = format!("Bearer {}", expired());
    let stale_presented = Presented { authorization: Some(&stale), ..Default::default() };
    assert_eq!(id.locate(&stale_presented).signature_checks(NOW).len(), 1);
    assert_eq!(with_verdict(&id, &stale_presented, true).unwrap_err().slug(), "session-expired");
}

/// Issue 15: what the Workers layer does for one request (locate, plan the key fetches, hand
/// the signatures to the platform, then the session) reads each token once. `session` takes
/// the located value, so it has no request to read again.
#[test]
fn a_request_reads_its_credential_once() {
    let decodes = || jwt::DECODES.with(std::cell::Cell::get);
    let remote = json!({"issuer": ISSUER, "audience": "tv-app", "jwks_url": "https://id.example/jwks",
        "token_from": ["bearer", "cookie:id_token"]});
    let id = identity(json!({"idp": remote}), false);
    let doc = json!({"keys": [signer_jwk("k1")]}).to_string();
    let bearer = format!("Bearer {}", token("frank"));
    let cookies = format!("id_token={}; id_token={}", token("frank"), expired());
    for (presented, tokens) in [
        (Presented { authorization: Some(&bearer), ..Default::default() }, 1),
        (Presented { cookie: Some(&cookies), ..Default::default() }, 2),
    ] {
        let start = decodes();
        let mut located = id.locate(&presented);
        assert_eq!(decodes() - start, tokens, "located: each token decoded");
        for fetch in located.key_fetches(NOW) {
            let fetched = Fetched::Document { body: doc.clone(), cache_control: None };
            id.caches.record_fetch(fetch.provider, fetched, NOW);
        }
        for check in located.signature_checks(NOW) {
            located.record_verdict(&check, true);
        }
        assert_eq!(located.session(NOW).unwrap().sub, "frank");
        assert_eq!(decodes() - start, tokens, "and never again for this request");
    }
}

/// Signature verifications this thread has run so far.
fn verifications() -> usize {
    crate::identity::jwk::VERIFICATIONS.with(std::cell::Cell::get)
}

/// A provider whose key document holds `count` ES384 keys, none named by a kid-less token;
/// with `with_signer`, the last of them is the key tokens are signed with.
fn many_keys(count: u8, with_signer: bool) -> Isolate {
    use crate::identity::jwt::tests::key_jwk;
    let mut keys: Vec<serde_json::Value> = (1..=count)
        .map(|i| key_jwk(&crate::key::PlaybackKey::from_scalar_bytes(&[i; 48]).unwrap(), &format!("k{i}")))
        .collect();
    if with_signer {
        keys.pop();
        keys.push(signer_jwk("signer"));
    }
    identity(json!({"idp": {"issuer": ISSUER, "audience": "tv-app", "jwks": {"keys": keys}}}), false)
}

fn kidless(sub: &str, exp: u64) -> String {
    let mut c = claims();
    c["sub"] = json!(sub);
    c["exp"] = json!(exp);
    mint(&json!({"alg": "ES384"}), &c)
}

/// Issue 16, finding 2: a token without `kid` was verified against every key that fits (32
/// RSA-8192 keys: 315 ms of wasm CPU per request), and again on every request. Now: refused
/// unread when more than three keys fit, at most three verifications otherwise, and a failing
/// token is not verified again.
#[test]
fn a_kidless_token_costs_a_bounded_number_of_verifications_once() {
    let forged = |presented_id: &Isolate, bearer: &str| {
        let start = verifications();
        let presented = Presented { authorization: Some(bearer), ..Default::default() };
        let error = presented_id.session(&presented, NOW).unwrap_err();
        (error, verifications() - start)
    };
    // Six keys fit: refused before any verification (it was six verifications a request).
    let crowded = many_keys(6, false);
    let bearer = format!("Bearer {}", kidless("mallory", NOW + 600));
    let (error, cost) = forged(&crowded, &bearer);
    assert_eq!(cost, 0, "{error}");
    assert!(error.to_string().contains("has no `kid`") && error.to_string().contains("6 of"), "{error}");
    // Three keys fit: at most three verifications, then none for the same token again.
    let three = many_keys(3, false);
    let (error, cost) = forged(&three, &bearer);
    assert_eq!(cost, 3, "{error}");
    assert!(error.to_string().contains("signature does not verify"), "{error}");
    let (again, cost) = forged(&three, &bearer);
    assert_eq!((cost, &again), (0, &error), "a failing token is remembered, with its reason");
    // A genuine kid-less token still works among three keys, once.
    let signed = many_keys(3, true);
    let good = format!("Bearer {}", kidless("grace", NOW + 600));
    let presented = Presented { authorization: Some(&good), ..Default::default() };
    let start = verifications();
    assert_eq!(signed.session(&presented, NOW).unwrap().sub, "grace");
    assert_eq!(signed.session(&presented, NOW).unwrap().sub, "grace");
    assert!(verifications() - start <= 3);
    // A validly signed token the claims refuse (expired) costs one verification, once; its
    // claims are still checked each time.
    let stale = format!("Bearer {}", expired());
    let one = identity(json!({"idp": inline(json!({}))}), false);
    let (error, cost) = forged(&one, &stale);
    assert_eq!((cost, error.slug()), (1, "session-expired"));
    let (error, cost) = forged(&one, &stale);
    assert_eq!((cost, error.slug()), (0, "session-expired"));
}

/// The platform is handed every candidate key of a kid-less token (at most three), and its
/// answers decide without any verification here.
#[test]
fn a_kidless_tokens_candidates_go_to_the_platform() {
    let signed = many_keys(3, true);
    let good = format!("Bearer {}", kidless("heidi", NOW + 600));
    let presented = Presented { authorization: Some(&good), ..Default::default() };
    let mut located = signed.locate(&presented);
    let checks = located.signature_checks(NOW);
    assert_eq!(checks.len(), 3, "one check per candidate key");
    let mut ids: Vec<&str> = checks.iter().map(|c| c.key_id.as_str()).collect();
    ids.dedup();
    assert_eq!(ids.len(), 3);
    for check in &checks {
        let key = super::super::jwk::PublicJwk::from_jwk(check.key.as_object().unwrap()).unwrap();
        let valid = key.verify(check.alg, check.signing_input.as_bytes(), &check.signature);
        located.record_verdict(check, valid);
    }
    let start = verifications();
    assert_eq!(located.session(NOW).unwrap().sub, "heidi");
    assert_eq!(verifications() - start, 0, "the platform's answers decided");
    // Ivan's claims under Heidi's signature.
    let ivan = kidless("ivan", NOW + 600);
    let (signed_part, _) = ivan.rsplit_once('.').unwrap();
    let (_, signature) = good.rsplit_once('.').unwrap();
    let forged = format!("Bearer {signed_part}.{signature}");
    let presented = Presented { authorization: Some(&forged), ..Default::default() };
    let mut located = signed.locate(&presented);
    for check in located.signature_checks(NOW) {
        located.record_verdict(&check, false);
    }
    let start = verifications();
    assert!(located.session(NOW).unwrap_err().to_string().contains("signature does not verify"));
    assert_eq!(verifications() - start, 0);
    assert!(signed.locate(&presented).signature_checks(NOW).is_empty(), "a known failure is not checked again");
}

/// Issue 16: two providers reading the Bearer header; a token of the second is verified once,
/// then answered from the cache.
#[test]
fn two_providers_reading_one_place_keep_their_verified_tokens() {
    let mut other = inline(json!({}));
    other["issuer"] = json!("https://other.example");
    let id = identity(json!({"a-idp": other, "b-idp": inline(json!({}))}), false);
    let bearer = format!("Bearer {}", token("bob"));
    let presented = Presented { authorization: Some(&bearer), ..Default::default() };
    assert_eq!(id.session(&presented, NOW).unwrap().sub, "bob");
    let start = verifications();
    for _ in 0..3 {
        assert_eq!(id.session(&presented, NOW).unwrap().sub, "bob");
    }
    assert_eq!(verifications() - start, 0, "verified once");
}

#[test]
fn nothing_sent() {
    let classic = identity(json!({}), true);
    assert_eq!(
        classic.session(&Presented::default(), NOW).unwrap_err(),
        Error::Session(crate::error::SessionFault::Missing)
    );
    let id = identity(json!({"idp": inline(json!({"token_from": ["bearer", "cookie:id_token"]}))}), true);
    let error = id.session(&Presented::default(), NOW).unwrap_err();
    assert_eq!((error.status(), error.slug()), (401, "session-missing"));
    assert!(
        error.to_string().contains("`Authorization: Bearer` token") && error.to_string().contains("`id_token` cookie"),
        "{error}"
    );
}

#[test]
fn fetch_planning_and_unavailable_providers() {
    let remote = json!({"issuer": ISSUER, "audience": "tv-app", "jwks_url": "https://id.example/jwks"});
    let id = identity(json!({"idp": remote}), false);
    let bearer = format!("Bearer {}", token("dave"));
    let presented = Presented { authorization: Some(&bearer), ..Default::default() };
    let fetches_for = |presented: &Presented<'_>, now| id.locate(presented).key_fetches(now).len();
    let fetches = id.locate(&presented).key_fetches(NOW);
    assert_eq!((fetches.len(), fetches[0].kid.as_deref()), (1, Some("k1")), "no keys yet: fetch");
    assert_eq!(id.identity.fetches_for_health(&id.caches, NOW).len(), 1);
    assert_eq!(id.identity.health(&id.caches, NOW), Ok(()), "nothing failed yet");
    let error = id.session(&presented, NOW).unwrap_err();
    assert_eq!((error.status(), error.slug()), (503, "identity-provider-unavailable"));
    id.caches.keys.record(&id.identity.providers[0], Fetched::Failed("connection refused".into()), NOW);
    assert_eq!(id.identity.health(&id.caches, NOW), Err(Error::ProviderUnavailable("idp".into())));
    assert_eq!(fetches_for(&presented, NOW), 0, "rate limited");
    assert_eq!(fetches_for(&presented, NOW + 1), 1, "without keys, retried after 1 s (then 2, 4, ... 30)");
    let doc = json!({"keys": [signer_jwk("k1")]}).to_string();
    id.caches.keys.record(&id.identity.providers[0], Fetched::Document { body: doc, cache_control: None }, NOW + 30);
    assert_eq!(id.session(&presented, NOW + 30).unwrap().sub, "dave");
    assert_eq!(id.session(&presented, NOW + 31).unwrap().sub, "dave", "again, from the verified cache");
    assert_eq!(fetches_for(&presented, NOW + 31), 0, "fresh keys: nothing to fetch");
    assert_eq!(id.identity.health(&id.caches, NOW + 30), Ok(()));
    // Verified once, then remembered; a key rotation that drops the key forgets it.
    assert_eq!(id.caches.verified.len(), 1);
    id.caches.record_fetch(
        &id.identity.providers[0],
        Fetched::Document { body: json!({"keys": [signer_jwk("k1")]}).to_string(), cache_control: None },
        NOW + 400,
    );
    assert_eq!(id.caches.verified.len(), 1, "same keys: kept");
    id.caches.record_fetch(
        &id.identity.providers[0],
        Fetched::Document { body: json!({"keys": [signer_jwk("k2")]}).to_string(), cache_control: None },
        NOW + 800,
    );
    assert!(id.caches.verified.is_empty(), "keys changed: verify again");
    let error = id.session(&presented, NOW + 800).unwrap_err();
    assert!(error.to_string().contains("`kid` names none of the provider's keys"), "{error}");
    let garbage = Presented { authorization: Some("Bearer x.y.z"), ..Default::default() };
    assert_eq!(fetches_for(&garbage, NOW + 90), 0, "an unreadable token makes no fetch");
}
