"""Two small hand-made articles for the answerers' specifications, and retrieved hits made from them.
"""
from __future__ import annotations

from qa.ingest.chunk import Chunker
from qa.ingest.load import Article
from qa.search.retrieve import Hit

BITMART = Article(
    article_id="bitmart.md", title="WEMIX’s staked token listed on BitMart exchange", path="bitmart.md",
    text=("Established in 2018, BitMart offers futures contracts and spot trading. The token was listed for trading "
          "on the exchange last Friday at 10 a.m. (UTC) and is priced at $3.48. Users can redeem their funds after "
          "the period is over, and the principal is paid to their wallets without extra fees."),
)
GATECOIN = Article(
    article_id="gatecoin.md", title="Hong Kong Deems Crypto as Property", path="gatecoin.md",
    text=("A Hong Kong judge has determined cryptocurrency as being property capable of being held in trust. "
          "Presiding over the case, Justice Linda Chan stated that Hong Kong takes a broad definition of property. "
          "Gatecoin announced that it would commence the liquidation of the business in 2019."),
)


def hits_for(embedder, *articles: Article) -> list[Hit]:
    """The articles' chunks as hits ranked in the order given, as the retriever would hand them over."""
    chunker = Chunker(embedder.count_tokens, 200, 1)
    chunks = [c for article in articles for c in chunker.chunk(article)]
    return [Hit(chunk=c, score=1.0 / (i + 1)) for i, c in enumerate(chunks)]
