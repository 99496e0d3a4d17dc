"""A small news site on 127.0.0.1 for the fetching tests: dated and undated pages, a feed, a sitemap, a PDF,
errors, a redirect loop, a slow and an oversized page, robots.txt, and pages with and without ETag changes.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from tests.pdf import pdf_bytes

PARAGRAPH = ("The Monetary Authority of Singapore said on Tuesday that it will require every digital payment "
             "token service provider licensed in the city-state to keep customer assets in a statutory trust "
             "by the middle of next year, and to report its reserves to the regulator every month. ")


def news_page(title: str, body: str, date: str | None = None, canonical: str | None = None,
              relative: str | None = None) -> bytes:
    meta = f'<meta property="article:published_time" content="{date}">' if date else ""
    link = f'<link rel="canonical" href="{canonical}">' if canonical else ""
    when = f"<p class='time'>{relative}</p>" if relative else ""
    return (f"<html><head><title>{title}</title>{meta}{link}"
            f'<meta property="og:site_name" content="Policy Wire"></head><body>'
            f"<nav><a href='/'>Home</a> <a href='/news'>News</a></nav>"
            f"<article><h1>{title}</h1>{when}<p>{body}</p><p>{body}</p></article>"
            f"<footer>More to read: nothing else</footer></body></html>").encode()


@dataclass
class Route:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0
    etag: str | None = None


class Site:
    """Serves `routes` (path with query -> Route); records every request's path and headers."""

    def __init__(self):
        self.routes: dict[str, Route] = {}
        self.requests: list[tuple[str, dict[str, str]]] = []
        site = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (the name http.server calls)
                site.requests.append((self.path, dict(self.headers)))
                route = site.routes.get(self.path) or site.routes.get(self.path.split("?")[0])
                if route is None:
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                if route.etag and self.headers.get("If-None-Match") == route.etag:
                    self.send_response(304)
                    self.send_header("ETag", route.etag)
                    self.end_headers()
                    return
                self.send_response(route.status)
                for key, value in route.headers.items():
                    self.send_header(key, value)
                if route.etag:
                    self.send_header("ETag", route.etag)
                if route.delay_s:
                    self.send_header("Content-Length", str(len(route.body)))
                    self.end_headers()
                    for i in range(0, len(route.body), 64):  # trickles: each read is fast, the page is not
                        self.wfile.write(route.body[i:i + 64])
                        self.wfile.flush()
                        time.sleep(route.delay_s)
                    return
                self.send_header("Content-Length", str(len(route.body)))
                self.end_headers()
                self.wfile.write(route.body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def url(self, path: str) -> str:
        return self.base + path

    def asked(self, path: str) -> list[dict[str, str]]:
        return [headers for p, headers in self.requests if p == path]

    def __enter__(self) -> Site:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


def news_site() -> Site:
    site = Site()
    html = {"Content-Type": "text/html; charset=utf-8"}
    r = site.routes
    r["/robots.txt"] = Route(body=b"User-agent: *\nDisallow: /private/\n", headers={"Content-Type": "text/plain"})
    r["/news/mas-trust.html"] = Route(body=news_page("MAS orders customer assets into trust", PARAGRAPH,
                                                     date="2025-11-04",
                                                     canonical=site.url("/news/mas-trust.html")), headers=html)
    r["/amp/news/mas-trust.html"] = Route(body=news_page("MAS orders customer assets into trust", PARAGRAPH,
                                                         date="2025-11-04",
                                                         canonical=site.url("/news/mas-trust.html")), headers=html)
    r["/news/undated.html"] = Route(body=news_page("Thailand weighs a crypto tax holiday",
                                                   PARAGRAPH.replace("Singapore", "Thailand"),
                                                   relative="6 days ago"), headers=html)
    r["/news/no-date.html"] = Route(body=news_page("Dubai regulator fines an exchange",
                                                   PARAGRAPH.replace("Singapore", "Dubai")), headers=html)
    r["/private/secret.html"] = Route(body=news_page("Private", PARAGRAPH), headers=html)
    r["/docs/consultation.pdf"] = Route(body=pdf_bytes(
        ["Consultation paper on stablecoin reserves.", "Issuers must hold high quality liquid assets.",
         "Reserves are audited every quarter by an independent auditor."], title="Stablecoin consultation"),
        headers={"Content-Type": "application/pdf"})
    r["/loop/a"] = Route(status=302, headers={"Location": "/loop/b"})
    r["/loop/b"] = Route(status=302, headers={"Location": "/loop/a"})
    r["/moved"] = Route(status=301, headers={"Location": "/news/no-date.html"})
    r["/slow.html"] = Route(body=news_page("Slow", PARAGRAPH), headers=html, delay_s=0.2)
    r["/huge.html"] = Route(body=news_page("Huge", PARAGRAPH * 2000), headers=html)
    r["/logo.png"] = Route(body=b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4, headers={"Content-Type": "image/png"})
    r["/stable.html"] = Route(body=news_page("Stable page on Hong Kong stablecoins",
                                             PARAGRAPH.replace("Singapore", "Hong Kong")), headers=html,
                              etag='"stable-1"')
    r["/changing.html"] = Route(body=news_page("Changing page on Korean exchanges",
                                               PARAGRAPH.replace("Singapore", "Korea")), headers=html,
                                etag='"v1"')
    r["/feed.xml"] = Route(body=f"""<?xml version="1.0"?>
<rss version="2.0"><channel><title>Policy Wire</title><link>{site.base}/</link>
<item><title>MAS</title><link>{site.url('/news/mas-trust.html?utm_source=rss')}</link>
<pubDate>Tue, 04 Nov 2025 08:00:00 GMT</pubDate></item>
<item><title>Thailand</title><link>{site.url('/news/undated.html')}</link></item>
<item><title>Opinion</title><link>{site.url('/opinion/hot-take.html')}</link></item>
</channel></rss>""".encode(), headers={"Content-Type": "application/rss+xml"}, etag='"feed-1"')
    r["/sitemap.xml"] = Route(body=f"""<?xml version="1.0" encoding="UTF-8"?>
<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">
<sitemap><loc>{site.url('/sitemap-news.xml')}</loc></sitemap></sitemapindex>""".encode(),
        headers={"Content-Type": "application/xml"})
    r["/sitemap-news.xml"] = Route(body=f"""<?xml version="1.0" encoding="UTF-8"?>
<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">
<url><loc>{site.url('/news/no-date.html')}</loc><lastmod>2025-10-01</lastmod></url>
<url><loc>{site.url('/docs/consultation.pdf')}</loc></url>
<url><loc>{site.url('/private/secret.html')}</loc></url>
</urlset>""".encode(), headers={"Content-Type": "application/xml"})
    return site
