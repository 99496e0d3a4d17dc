"""HTML and Markdown for the chat page, built so that article text is always shown as text: every piece
of it is escaped, and only the app's own tags (<mark>, citation badges) are markup.
"""
from __future__ import annotations

import html
import re
from urllib.parse import urlparse

from highlight import highlight_segments  # ui/highlight.py, beside this file

from qa.answer.extractive import Answer, Citation

# Every ASCII punctuation character can be backslash-escaped in Markdown; Streamlit adds `$` (math) and
# `:` (emoji and colour directives) to the characters that mean something.
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()<>#+\-.!|~$:&\"'=/^%@;,?])")

STYLE = """
<style>
.qa-answer { line-height: 1.6; white-space: pre-wrap; }
.qa-cite { font-size: 0.78em; font-weight: 600; color: #1f5fbf; margin-left: 1px; }
.qa-unsupported { text-decoration: underline wavy #c0392b; text-underline-offset: 3px; }
.qa-flag { font-size: 0.72em; font-weight: 600; color: #c0392b; border: 1px solid #e6b0aa;
           border-radius: 4px; padding: 0 4px; margin-left: 4px; white-space: nowrap; }
.qa-meta { color: #5f6368; font-size: 0.86em; margin-bottom: 0.4rem; }
.qa-meta a { color: #1f5fbf; }
.qa-passage { white-space: pre-wrap; line-height: 1.55; font-size: 0.93em; border-left: 3px solid #d0d7de;
              padding: 0.2rem 0 0.2rem 0.75rem; }
.qa-passage mark { background: #fff3b0; padding: 0 1px; border-radius: 2px; }
</style>
"""


def md_escape(text: str) -> str:
    """`text` for st.markdown/st.caption/labels: shown literally, with no link, HTML, math or emoji."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", " ".join(str(text).split()))


def safe_url(url: str | None) -> str | None:
    """The URL if it is an http(s) link, else None (so no `javascript:` or `data:` link is ever made)."""
    if not url:
        return None
    parsed = urlparse(url.strip())
    if parsed.scheme.lower() in ("http", "https") and parsed.netloc:
        return url.strip()
    return None


def answer_html(answer: Answer) -> str:
    """The answer with its `[n]` markers as badges; sentences the checker did not support are marked."""
    if not answer.sentences:
        return f'<div class="qa-answer">{html.escape(answer.answer)}</div>'
    parts: list[str] = []
    for sentence in answer.sentences:
        text = html.escape(sentence.text.strip())
        if not sentence.supported:
            text = (f'<span class="qa-unsupported" title="No retrieved passage supports this sentence">{text}</span>'
                    '<span class="qa-flag">unsupported</span>')
        markers = "".join(f'<span class="qa-cite">[{n}]</span>' for n in sentence.citations)
        if "\n" in sentence.text.strip():  # a list keeps its lines and stands on lines of its own
            parts.append(f"\n{text}\n{markers}\n")
        else:
            parts.append(f"{text} {markers}".rstrip())
    body = re.sub(r"\n{3,}", "\n\n", " ".join(parts)).strip().replace("\n ", "\n")
    return f'<div class="qa-answer">{body}</div>'


def streaming_html(text: str) -> str:
    return f'<div class="qa-answer">{html.escape(text)}▍</div>'


def citation_meta_html(citation: Citation) -> str:
    """Published date (as the article gives it), source, category, jurisdictions and link, escaped."""
    items = [f"Published {citation.published}" if citation.published else "No publication date",
             citation.source or "Unknown source"]
    if citation.category:
        items.append(citation.category)
    if citation.jurisdictions:
        items.append(", ".join(citation.jurisdictions))
    meta = " · ".join(html.escape(item) for item in items)
    url = safe_url(citation.url)
    if url:
        meta += (f' · <a href="{html.escape(url, quote=True)}" target="_blank" rel="noopener noreferrer nofollow">'
                 "open article ↗</a>")
    return f'<div class="qa-meta">{meta}</div>'


def passage_html(citation: Citation) -> str:
    """The cited passage with the cited sentences in <mark>."""
    body = "".join(
        f"<mark>{html.escape(s.text)}</mark>" if s.highlighted else html.escape(s.text)
        for s in highlight_segments(citation.text, citation.highlights)
    )
    return f'<div class="qa-passage">{body}</div>'


def card_label(citation: Citation) -> str:
    return f"\\[{citation.n}\\] {md_escape(citation.title)}"


def timings_caption(timings_ms: dict[str, float]) -> str:
    order = ("rewrite", "retrieve", "embed_query", "dense", "bm25", "fuse", "answer", "total")
    known = [f"{key.replace('_', ' ')} {timings_ms[key]:,.0f} ms" for key in order if key in timings_ms]
    rest = [f"{key.replace('_', ' ')} {value:,.0f} ms" for key, value in timings_ms.items() if key not in order]
    return " · ".join(known + rest)
