"""The sandbox's integration catalogue: which platforms a company can connect to.

Keys, names and source types are Codat's real ones (docs/codat.md §5). Xero's and the Codat
Sandbox's `integrationId`/`sourceId` are the real values quoted in Codat's docs; the others are
fixed UUIDs of our own, stable forever so that stored connections and tests can rely on them.
`logoUrl` points at the app's letter monograms in our static files; the branding images
are drawn by `codat_sandbox.logos`. No image is fetched from elsewhere.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.templatetags.static import static

from codat.types import DATA_TYPES, DATA_TYPES_BY_SOURCE_TYPE

# Codat's data type keys by source type (docs/codat.md §6.1). Codat's own sandboxes offer every
# type of their kind; a few simulated platforms lack one or two (see the catalogue) so that the
# NotSupported path can be tried. Those gaps are ours, not Codat's real coverage matrix.
ACCOUNTING_DATA_TYPES = DATA_TYPES_BY_SOURCE_TYPE["Accounting"]
BANKING_DATA_TYPES = DATA_TYPES_BY_SOURCE_TYPE["Banking"]
COMMERCE_DATA_TYPES = DATA_TYPES_BY_SOURCE_TYPE["Commerce"]
# Every key, in the order of Codat's `DataStatus.dataType` enum.
ALL_DATA_TYPES = DATA_TYPES


# The redirect's `clientId`: the GUID of "our Codat instance". Fixed, so redirect URLs are
# predictable in tests.
SANDBOX_CLIENT_ID = "4d82b6b9-821a-45ce-bc4f-24c028455f7a"


@dataclass(frozen=True)
class Integration:
    key: str
    name: str
    source_type: str
    integration_id: str
    source_id: str
    # Codat's own test platforms; the Link page says so, as Codat's does.
    is_sandbox: bool = False
    # Codat fills `data.company.companyName` in the redirect only for a few platforms.
    reports_company_name: bool = False
    # Types of its kind the platform cannot supply: a refresh of one ends as NotSupported.
    unsupported_data_types: frozenset[str] = frozenset()

    @property
    def data_types(self) -> tuple[str, ...]:
        return DATA_TYPES_BY_SOURCE_TYPE.get(self.source_type, ())

    def supports(self, data_type: str) -> bool:
        return data_type in self.data_types and data_type not in self.unsupported_data_types

    @property
    def is_enabled(self) -> bool:
        # A test (or a developer) can switch integrations off to see the app cope, as a Codat
        # client would in Portal > Settings > Integrations.
        disabled = getattr(settings, "CODAT_SANDBOX_DISABLED_INTEGRATIONS", ())
        return self.key not in disabled

    @property
    def logo_static_path(self) -> str:
        return f"img/platforms/{self.key}.svg"

    @property
    def logo_url(self) -> str:
        # Absolute for the API, as Codat's are; the sandbox's own pages use the relative path
        # so the CSP's `img-src 'self'` holds whichever host name the browser used.
        return absolute_static_url(self.logo_static_path)


_CATALOGUE = (
    # Codat's own test platforms: no credentials, on by default.
    Integration(
        key="mqjo",
        name="Sandbox",
        source_type="Accounting",
        integration_id="9e0cc03b-3868-4543-98c0-568f0f1b12a3",
        source_id="aff0f057-255f-42c4-8d4a-ae23b43e1615",
        is_sandbox=True,
    ),
    Integration(
        key="qhnd",
        name="Banking Sandbox",
        source_type="Banking",
        integration_id="73d5956e-7f73-4468-bf88-ef80a71abdcb",
        source_id="7154fc06-43b0-4db6-a824-3f3ade2f7857",
        is_sandbox=True,
    ),
    Integration(
        key="aiwb",
        name="Commerce Sandbox",
        source_type="Commerce",
        integration_id="d8845bbb-c327-42d8-a0da-6c1053107c3f",
        source_id="77e4a833-7b13-4df7-be6c-663af15b1892",
        is_sandbox=True,
    ),
    # Simulated real platforms: the hosted Link page stands in for their own consent screens.
    Integration(
        key="gbol",
        name="Xero",
        source_type="Accounting",
        integration_id="0f20c943-12d0-4800-9f6c-d218f62d494c",
        source_id="8a156a5a-39cb-4f9d-856e-76ef9b9a9607",
        reports_company_name=True,
        unsupported_data_types=frozenset({"itemReceipts"}),
    ),
    Integration(
        key="qhyg",
        name="QuickBooks Online",
        source_type="Accounting",
        integration_id="a4214cac-b873-4a6e-9f2c-5ff743251edd",
        source_id="eebc43e9-fb47-4bb1-a448-5fc9a5145c74",
        reports_company_name=True,
    ),
    Integration(
        key="tgff",
        name="Sage Accounting",
        source_type="Accounting",
        integration_id="30b399b4-58d4-4497-b06b-320c7229dc95",
        source_id="661b6963-6125-4619-8cc7-9348b9a77f67",
        unsupported_data_types=frozenset({"itemReceipts", "salesOrders"}),
    ),
    Integration(
        key="suuo",
        name="Plaid",
        source_type="Banking",
        integration_id="5143a200-14fe-4af8-9bcd-9e73646eaa40",
        source_id="d5fcb646-a54e-49dc-8ad5-5a3a11b99944",
    ),
    Integration(
        key="upvr",
        name="TrueLayer",
        source_type="Banking",
        integration_id="a1db5928-1e05-483e-a3b4-ee1f580fcbf8",
        source_id="65d27638-1254-4d26-acc4-e0f19f774b09",
    ),
    Integration(
        key="fztf",
        name="Shopify",
        source_type="Commerce",
        integration_id="e3db3f1b-88eb-4ba2-b5f3-bc29703a4137",
        source_id="4b6808af-5616-4839-aa68-8e8e9b56b064",
    ),
    Integration(
        key="exgd",
        name="Stripe",
        source_type="Commerce",
        integration_id="069a06b8-a285-458e-a9a8-cbefb41280d1",
        source_id="6c82846a-893b-4619-bf9c-00a2b7130296",
        unsupported_data_types=frozenset({"commerce-locations"}),
    ),
    Integration(
        key="zsth",
        name="Square",
        source_type="Commerce",
        integration_id="e99805eb-4ef3-4259-ac30-bbcb4a0c0037",
        source_id="5c78857b-db3b-4345-acaf-ec71960e151f",
        unsupported_data_types=frozenset({"commerce-disputes"}),
    ),
)

INTEGRATIONS: dict[str, Integration] = {integration.key: integration for integration in _CATALOGUE}


def all_integrations() -> tuple[Integration, ...]:
    """Every integration, in catalogue order (sandboxes first, then by source type)."""
    return _CATALOGUE


def get_integration(key: str) -> Integration | None:
    return INTEGRATIONS.get(key)


def absolute_static_url(path: str) -> str:
    """The full URL of one of our static files, as Codat's `logoUrl` is absolute."""
    try:
        url = static(path)
    except ValueError:
        # The manifest storage raises when collectstatic has not run (a sandbox started with
        # DEBUG off); the unhashed name still resolves in that case.
        url = f"{settings.STATIC_URL}{path}"
    if url.startswith(("http://", "https://")):
        return url
    if not url.startswith("/"):
        url = f"/{url}"
    return f"{settings.SITE_URL}{url}"
