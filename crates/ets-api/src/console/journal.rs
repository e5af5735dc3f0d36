//! `/console/journal`, the regulator's view of the journal (SPEC §9): the
//! verification of the whole stored chain, the signed checkpoint to keep,
//! and the latest entries, newest first, paged backwards.
//!
//! It adds no rule: the verification and the checkpoint are what the API's
//! own handlers (`GET /v1/audit/verify`, `GET /v1/audit/checkpoint`) answer,
//! called as they are for the person at the desk, and each entry is the
//! object `GET /v1/audit/journal` lists (`entry_json`). Regulators and
//! administrators only, as for the API; others get the 403 page.

use axum::extract::{Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use ets_core::audit::entry_json;
use maud::{Markup, html};
use serde::Deserialize;
use serde_json::Value;

use super::lang::{Lang, Text, grouped};
use super::session::Person;
use super::{PageLang, refused, respond};
use crate::AppState;
use crate::audit::AUDITORS;
use crate::problem::Problem;

/// Entries a page shows.
const PAGE: i64 = 50;
/// Where the signed checkpoint is downloaded.
const CHECKPOINT_PATH: &str = "/console/journal/checkpoint.json";

/// `?before=SEQ`: the page of entries just before entry `SEQ` (absent or
/// empty: the newest). Read as text so that a bad one is the page saying
/// so, not a bare rejection.
#[derive(Debug, Default, Deserialize)]
pub(super) struct JournalQuery {
    #[serde(default)]
    before: Option<String>,
}

impl JournalQuery {
    /// The seq the page ends before, if one is given; for anything but a
    /// whole number of 1 or more, what the page says about it.
    fn before(&self, lang: Lang) -> Result<Option<i64>, &'static str> {
        let Some(text) = self.before.as_deref().filter(|t| !t.is_empty()) else {
            return Ok(None);
        };
        match text.parse::<i64>() {
            Ok(seq) if seq >= 1 => Ok(Some(seq)),
            _ => Err(lang.pick(
                "before 须为不小于 1 的整数（条目序号）。",
                "before must be a whole number of 1 or more (an entry's seq).",
            )),
        }
    }
}

/// A page of entries: the API's entry objects, newest first, and the
/// `before` of the page of older ones, if there are any.
struct Entries {
    items: Vec<Value>,
    earlier: Option<i64>,
}

/// The entries just before `before` (the newest without it), at most
/// [`PAGE`], newest first. A `before` past the head is the newest page.
async fn entries(state: &AppState, before: Option<i64>) -> Result<Entries, Problem> {
    let head = state.store.journal_head().await?;
    let last = before.map_or(head.seq, |before| (before - 1).min(head.seq));
    let after = (last - PAGE).max(0);
    let mut rows = if last > after {
        state.store.journal(after, last - after).await?
    } else {
        Vec::new()
    };
    rows.reverse();
    Ok(Entries {
        items: rows.iter().map(entry_json).collect(),
        earlier: (after > 0).then_some(after + 1),
    })
}

/// `GET /console/journal`: the verification as `GET /v1/audit/verify`
/// answers it and when it ran, the checkpoint's download, and the latest
/// entries (`?before=SEQ` for older ones; a bad one is 422 with the page
/// saying why).
pub(super) async fn page(
    State(state): State<AppState>,
    person: Person,
    PageLang(_, remember): PageLang,
    Query(query): Query<JournalQuery>,
) -> Result<Response, Problem> {
    if !AUDITORS.contains(&person.role) {
        return Ok(refused(&person));
    }
    let lang = person.lang;
    let last = state.store.last_verification().await?;
    let recorded = last.map(|last| {
        let body = crate::body::VerificationBody::from(last.verification);
        let value = serde_json::to_value(&body).unwrap_or(Value::Null);
        (value, crate::dto::time(last.at), last.verified_by)
    });
    let before = query.before(lang);
    let (status, listed) = match before {
        Ok(before) => (StatusCode::OK, Ok(entries(&state, before).await?)),
        Err(message) => (StatusCode::UNPROCESSABLE_ENTITY, Err(message)),
    };
    let first_bad = recorded
        .as_ref()
        .and_then(|(verification, _, _)| verification["first_bad_seq"].as_i64());
    let body = html! {
        (verification_section(lang, state.store.business_zone(), recorded.as_ref(), &person.csrf))
        (checkpoint_section(lang))
        section id="latest" {
            h2 { (lang.pick("最新条目", "Latest entries")) }
            @match &listed {
                Err(message) => {
                    p class="error" role="alert" id="before-error" { (message) }
                    p { a id="newest" href="/console/journal" { (lang.pick("查看最新条目", "Newest entries")) } }
                }
                Ok(listed) => {
                    @if listed.items.is_empty() {
                        p id="none" { (lang.text(Text::NoneFound)) }
                    } @else {
                        (entries_table(lang, state.store.business_zone(), &listed.items, first_bad))
                    }
                    p class="paging" {
                        @if let Some(earlier) = listed.earlier {
                            a id="earlier" href={ "/console/journal?before=" (earlier) } {
                                (lang.pick("较早的条目", "Earlier entries"))
                            }
                            " "
                        }
                        @if matches!(before, Ok(Some(_))) {
                            a id="newest" href="/console/journal" { (lang.pick("最新条目", "Newest entries")) }
                        }
                    }
                }
            }
        }
    };
    let markup = super::page(lang, lang.text(Text::Journal), Some(&person), &body);
    let remember = if status == StatusCode::OK {
        remember
    } else {
        None
    };
    Ok(respond(status, markup, remember.as_slice()))
}

/// The last verification recorded (by anyone, through the console or the
/// API): intact or broken (and from which entry), the entries checked, the
/// head hash, when it ran and who asked; and the form that verifies now.
fn verification_section(
    lang: Lang,
    zone: ets_core::BusinessZone,
    recorded: Option<&(Value, String, String)>,
    csrf: &str,
) -> Markup {
    let verify_now = html! {
        form method="post" action="/console/journal/verify" {
            input type="hidden" name="csrf" value=(csrf);
            button type="submit" id="verify-now" { (lang.pick("立即校验", "Verify now")) }
        }
    };
    let Some((verification, ran_at, by)) = recorded else {
        return html! {
            section id="verification" class="never" {
                h2 { (lang.pick("完整性校验", "Verification")) }
                p id="never-verified" {
                    (lang.pick(
                        "日志尚未校验过。校验会重新计算每个条目的哈希，条目多时需要一些时间。",
                        "The journal has not been verified yet. Verifying recomputes every entry's hash, which takes a while for a long journal.",
                    ))
                }
                (verify_now)
            }
        };
    };
    let ok = verification["ok"].as_bool() == Some(true);
    let entries = grouped(&verification["entries"].to_string());
    let head_hash = verification["head_hash"].as_str().unwrap_or_default();
    let first_bad = verification["first_bad_seq"].as_i64();
    html! {
        section id="verification" class=(if ok { "ok" } else { "broken" }) {
            h2 { (lang.pick("完整性校验", "Verification")) }
            @if ok {
                p class="verdict" {
                    (lang.pick(
                        "✓ 日志完整：每个条目的哈希均已重新计算，哈希链直至记录的最新条目完好无缺。",
                        "✓ Intact: every entry's hash was recomputed and the chain holds up to the recorded head.",
                    ))
                }
            } @else {
                p class="verdict error" role="alert" {
                    strong { (lang.pick("✗ 日志已被篡改或损坏！", "✗ The journal is BROKEN!")) }
                    " "
                    @if let Some(seq) = first_bad {
                        (lang.pick("哈希链自第 ", "The chain fails from entry "))
                        (seq)
                        (lang.pick(" 条起不再相符。", " on."))
                    }
                }
            }
            dl {
                dt { (lang.pick("结果", "Result")) }
                dd class="result" {
                    @if ok { (lang.pick("完整", "intact")) } @else { strong class="error" { (lang.pick("已损坏", "broken")) } }
                }
                @if !ok {
                    dt { (lang.pick("首个异常条目", "First bad entry")) }
                    dd class="first-bad-seq error" {
                        (first_bad.map_or_else(|| "—".to_owned(), |seq| seq.to_string()))
                    }
                }
                dt { (lang.text(Text::Entries)) }
                dd class="entries" { (entries) }
                dt { (lang.text(Text::HeadHash)) }
                dd class="hash" { code { (head_hash) } }
                dt { (lang.pick("校验时间", "Verified at")) }
                dd class="verified-at" { (lang.when(ran_at, zone)) }
                dt { (lang.pick("校验人", "Verified by")) }
                dd class="verified-by" { code { (by) } }
            }
            (verify_now)
        }
    }
}

/// `POST /console/journal/verify`: verifies the whole journal now, as
/// `GET /v1/audit/verify` does (which records it), and shows the page.
pub(super) async fn verify_now(
    State(state): State<AppState>,
    person: Person,
    axum::Form(form): axum::Form<super::CsrfForm>,
) -> Result<Response, Problem> {
    if form.csrf != person.csrf {
        return Ok(super::refused_with(&person, Text::FormExpired));
    }
    if !AUDITORS.contains(&person.role) {
        return Ok(refused(&person));
    }
    // The handler records what it found; the page shows the record.
    let _found = crate::audit::verify(State(state), person.caller()).await?;
    Ok(axum::response::Redirect::to("/console/journal").into_response())
}

/// The signed checkpoint's download and what it is for.
fn checkpoint_section(lang: Lang) -> Markup {
    html! {
        section id="checkpoint" {
            h2 { (lang.pick("签名检查点", "Signed checkpoint")) }
            p {
                (lang.pick(
                    "日志当前的最新条目及其哈希，由服务器现用的密钥签名。保存后可用 ",
                    "The journal's head now, signed by the server's current key. Keep it to check an export later with ",
                ))
                code { "ets-ledger journal verify --checkpoint" }
                (lang.pick(" 离线核对日志导出文件。", "."))
            }
            p {
                a id="download-checkpoint" href=(CHECKPOINT_PATH) download="checkpoint.json" {
                    (lang.pick("下载签名检查点（JSON）", "Download the signed checkpoint (JSON)"))
                }
            }
        }
    }
}

/// The entries as the API lists them, newest first; the first bad entry,
/// if it is among them, marked.
fn entries_table(
    lang: Lang,
    zone: ets_core::BusinessZone,
    items: &[Value],
    first_bad: Option<i64>,
) -> Markup {
    let text = |value: &Value| value.as_str().unwrap_or_default().to_owned();
    html! {
        table id="entries" {
            thead { tr {
                th scope="col" class="figure" { (lang.pick("序号", "Seq")) }
                th scope="col" { (lang.pick("时间", "At")) }
                th scope="col" { (lang.pick("操作者", "Actor")) }
                th scope="col" { (lang.pick("类型", "Kind")) }
                th scope="col" { (lang.pick("哈希", "Hash")) }
            } }
            tbody {
                @for entry in items {
                    @let seq = entry["seq"].as_i64();
                    @let bad = seq.is_some() && seq == first_bad;
                    tr data-seq=(entry["seq"]) class=[bad.then_some("bad error")] {
                        td class="figure seq" { (entry["seq"]) }
                        td class="at" { (lang.when(&text(&entry["at"]), zone)) }
                        td class="actor" {
                            code class="client-id" { (text(&entry["actor"]["client_id"])) }
                            " · "
                            span class="role" { (text(&entry["actor"]["role"])) }
                        }
                        td class="kind" { code { (text(&entry["kind"])) } }
                        td class="hash" title=(text(&entry["hash"])) { code { (text(&entry["hash"])) } }
                    }
                }
            }
        }
    }
}

/// `GET /console/journal/checkpoint.json`: what `GET /v1/audit/checkpoint`
/// answers (its handler's own body), as a file to keep.
pub(super) async fn checkpoint(
    State(state): State<AppState>,
    person: Person,
) -> Result<Response, Problem> {
    if !AUDITORS.contains(&person.role) {
        return Ok(refused(&person));
    }
    let body = crate::audit::checkpoint(State(state), person.caller()).await?;
    let mut response = crate::settlement::download_response(
        body.into_response(),
        "application/json",
        Some("checkpoint.json"),
    );
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}
