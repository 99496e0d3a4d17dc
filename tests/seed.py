"""Facts about the seed corpus that tests check against."""
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent

SHARED_DIR = REPO_ROOT.parent / "shared"
SEED_CORPUS = REPO_ROOT / "corpus"
LEAP_TITLE = "Hong Kong releases ‘LEAP’ framework for digital assets"
PROPERTY_TITLE = "Hong Kong Deems Crypto as Property"
WEMIX_TITLE = "WEMIX’s staked token listed on BitMart exchange"
KOREA_TITLE = "South Korea plans to revive crypto ICOs under stricter disclosure and oversight rules"
