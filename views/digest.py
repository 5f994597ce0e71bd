"""Weekly digest: preview it for the company or one team, product or environment, download it, send it."""

from __future__ import annotations

import json

import streamlit as st

from finops_core.query import CostQuery
from finops_core.reports import delivery, digest
from finops_core.schema import C
from ui import auth, cache, tables
from ui.filters import Selection, options_for
from ui.format import percent

SENDERS = ("admin", "finops", "finance")
KIND_LABELS = {"company": "Everything I can see", "team": "Team", "product": "Product", "environment": "Environment"}


def _scope_picker(version: str, sel: Selection) -> digest.DigestScope:
    left, right = st.columns([1, 2])
    kind = left.selectbox("Digest for", list(KIND_LABELS), format_func=KIND_LABELS.__getitem__, key="p_digest_kind")
    if kind == "company":
        return digest.DigestScope()
    options = options_for(version, digest.KINDS[kind], sel.data_start, sel.data_end, sel.query.scope)
    if not options:
        right.info(f"No {kind} in your data.")
        return digest.DigestScope()
    value = right.selectbox(KIND_LABELS[kind], options, key="p_digest_value")
    return digest.DigestScope(kind, value)


def _built(version: str, sel: Selection, scope: digest.DigestScope) -> digest.Digest:
    """The digest, kept for the session per (data version, scope, caller, metric) until refreshed:
    triage and backlog change between builds, so it is not a cached query."""
    q = CostQuery(sel.data_end, sel.data_end, metric=sel.query.metric, scope=sel.query.scope)
    key = f"{version}|{scope}|{q.scope.key()}|{q.metric}"
    kept = st.session_state.get("_digest")
    if st.button("Rebuild", help="Read triage, budgets and the backlog again") or not kept or kept[0] != key:
        with st.spinner("Building the digest..."):
            built = digest.build(cache.connection(), q, scope, first_day=sel.data_start, store_root=cache.store_root())
        st.session_state["_digest"] = (key, built)
        return built
    return kept[1]


def _send(d: digest.Digest, user: str) -> None:
    settings = delivery.load_settings()
    st.subheader("Send")
    left, right = st.columns(2)
    with left:
        fmt = st.radio("Webhook format", delivery.FORMATS, index=2, horizontal=True, key="p_hook_fmt")
        hook_env = delivery.ENV["webhook_url"]
        st.caption(f"To {settings.webhook_url or f'(not set: {hook_env})'}")
        if st.button("Post to webhook", disabled=not settings.webhook_url):
            _report(delivery.to_webhook(d, fmt, settings, user=user))
    with right:
        to = st.text_input("E-mail to (comma separated)", ", ".join(settings.smtp_to), key="p_mail_to")
        host_env = delivery.ENV["smtp_host"]
        st.caption(f"Via {settings.smtp_host or f'(not set: {host_env})'}:{settings.smtp_port}")
        recipients = tuple(a.strip() for a in to.split(",") if a.strip())
        if st.button("Send e-mail", disabled=not settings.smtp_host or not recipients):
            _report(delivery.by_smtp(d, settings, recipients, user=user))


def _report(result: delivery.Delivery) -> None:
    if result.ok:
        st.success(f"Delivered by {result.channel} to {result.target}.")
    else:
        st.error(f"Not delivered by {result.channel} to {result.target or '(nowhere)'}: {result.error}")


def _log() -> None:
    st.subheader("Deliveries")
    weeks = delivery.on_time()
    if weeks.height:
        rate = float(weeks["on_time"].mean() or 0.0)
        st.metric(
            "On time",
            percent(rate, 0).lstrip("+"),
            border=True,
            width="content",
            help=f"Weeks whose digest was delivered by {delivery.DUE_HOURS}:00 UTC the day after the week ended.",
        )
    log = delivery.deliveries()
    if log.is_empty():
        st.caption("No digest has been delivered yet.")
    else:
        shown = log.drop("id")
        tables.show(shown, key_columns=shown.columns[:1], key="digest_log")


def render(sel: Selection) -> None:
    version = cache.data_version() or ""
    st.title("Weekly digest")
    user = st.session_state["user"]
    scope = _scope_picker(version, sel)
    d = _built(version, sel, scope)
    settings_url = delivery.load_settings().app_url
    texts = {fmt: delivery.render(d, fmt, settings_url) for fmt in delivery.FORMATS}
    with st.container(horizontal=True, gap="small"):
        names = {
            "md": ("digest.md", "text/markdown"),
            "html": ("digest.html", "text/html"),
            "slack": ("digest-slack.json", "application/json"),
        }
        for fmt, (name, mime) in names.items():
            st.download_button(
                f"⬇ {name}",
                texts[fmt].encode(),
                name,
                mime,
                key=f"dl_{fmt}",
                on_click=auth.audit_download,
                args=(name,),
            )
    preview, mail, chat = st.tabs(["Preview", "E-mail (HTML)", "Slack payload"])
    preview.markdown(texts["md"])
    mail.html(texts["html"])
    chat.json(json.loads(texts["slack"]))
    if user.role in SENDERS:
        _send(d, user.username)
        _log()
    st.caption(
        f"Totals per billing currency ({', '.join(d.totals[C.BillingCurrency].to_list()) or 'none'}); "
        "currencies are never added. Digest rows for " + d.scope.label + "."
    )


render(st.session_state["selection"])
