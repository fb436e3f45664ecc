"""The redirect template is filled like Codat's: reserved and custom placeholders, URL-encoded."""

from __future__ import annotations

from codat_sandbox.redirects import RESERVED_PLACEHOLDERS, fill_redirect_template

RESERVED = {
    "clientId": "042399f5-d104-4f38-9ce8-cac3524f4e88",
    "companyId": "c0d83fa2-bfc6-4d8e-a39d-276051ad48df",
    "connectionId": "f3c45050-1827-4223-840c-a4a85792ab66",
    "integrationId": "9e0cc03b-3868-4543-98c0-568f0f1b12a3",
    "sourceId": "aff0f057-255f-42c4-8d4a-ae23b43e1615",
    "platform": "mqjo",
    "platformName": "Sandbox",
    "sourceType": "Accounting",
    "statusCode": "200",
    "errorMessage": "",
    "statusText": "",
}

# The worked example in docs/codat.md §4 (a Codat engineer's demo), after a Sandbox link.
TEMPLATE = (
    "https://hosted-link-redirect-page.vercel.app/{companyId}?flow=Copay&clientId={clientId}"
    "&connectionId={connectionId}&companyId={companyId}&integrationId={integrationId}"
    "&sourceId={sourceId}&platform={platform}&platformName={platformName}"
    "&sourceType={sourceType}&statusCode={statusCode}&errorMessage={errorMessage}"
    "&statusText={statusText}"
)
RESOLVED = (
    "https://hosted-link-redirect-page.vercel.app/c0d83fa2-bfc6-4d8e-a39d-276051ad48df"
    "?flow=Copay&clientId=042399f5-d104-4f38-9ce8-cac3524f4e88"
    "&connectionId=f3c45050-1827-4223-840c-a4a85792ab66"
    "&companyId=c0d83fa2-bfc6-4d8e-a39d-276051ad48df"
    "&integrationId=9e0cc03b-3868-4543-98c0-568f0f1b12a3"
    "&sourceId=aff0f057-255f-42c4-8d4a-ae23b43e1615&platform=mqjo&platformName=Sandbox"
    "&sourceType=Accounting&statusCode=200&errorMessage=&statusText="
)


def test_codats_worked_example_resolves_identically():
    assert fill_redirect_template(TEMPLATE, reserved=RESERVED, custom={}) == RESOLVED


def test_values_are_url_encoded():
    url = fill_redirect_template(
        "https://app.example/return?e={errorMessage}&t={statusText}&n={platformName}",
        reserved={
            **RESERVED,
            "errorMessage": "User cancelled.",
            "statusText": "a&b=c/d?",
            "platformName": "QuickBooks Online",
        },
        custom={},
    )

    assert url == (
        "https://app.example/return?e=User%20cancelled.&t=a%26b%3Dc%2Fd%3F&n=QuickBooks%20Online"
    )


def test_custom_placeholders_come_from_the_link_url_and_default_to_empty():
    url = fill_redirect_template(
        "https://app.example/r?state={state}&flow={flow}&missing={missing}",
        reserved=RESERVED,
        custom={"state": "abc 123", "flow": "lending"},
    )

    assert url == "https://app.example/r?state=abc%20123&flow=lending&missing="


def test_names_are_case_sensitive():
    url = fill_redirect_template(
        "https://app.example/r?a={companyid}&b={CompanyId}&c={companyId}",
        reserved=RESERVED,
        custom={"companyid": "custom-lower"},
    )

    assert url == ("https://app.example/r?a=custom-lower&b=&c=c0d83fa2-bfc6-4d8e-a39d-276051ad48df")


def test_a_custom_parameter_cannot_override_a_reserved_one():
    url = fill_redirect_template(
        "https://app.example/r?s={statusCode}&c={companyId}",
        reserved={**RESERVED, "statusCode": "403"},
        custom={"statusCode": "200", "companyId": "someone-else"},
    )

    assert url == "https://app.example/r?s=403&c=c0d83fa2-bfc6-4d8e-a39d-276051ad48df"


def test_a_reserved_name_without_a_value_becomes_empty():
    url = fill_redirect_template(
        "https://app.example/r?n={data.company.companyName}",
        reserved=RESERVED,
        custom={"data.company.companyName": "spoofed"},
    )

    assert url == "https://app.example/r?n="
    assert "data.company.companyName" in RESERVED_PLACEHOLDERS


def test_placeholders_work_anywhere_and_other_braces_are_left_alone():
    url = fill_redirect_template(
        "https://{region}.app.example/{platform}/done?x={}&y={{state}}&z=}{",
        reserved=RESERVED,
        custom={"region": "eu", "state": "s1"},
    )

    assert url == "https://eu.app.example/mqjo/done?x={}&y={s1}&z=}{"


def test_a_template_without_placeholders_is_unchanged():
    assert (
        fill_redirect_template("https://app.example/done", reserved=RESERVED, custom={"a": "b"})
        == "https://app.example/done"
    )
