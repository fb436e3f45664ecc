"""Sandbox URLs, mounted at /sandbox/ by the project only while the sandbox is on.

- `codat/…`: the Codat REST API (a trailing slash is tolerated, as HTTP clients differ);
- `assets/…`: the branding images (Codat's static host; no key needed);
- `link/…`: hosted Link pages (a company's `redirect`, a connection's `linkUrl`);
- ``: the console, and `console/…` the POST actions its forms send.
"""

from __future__ import annotations

from django.urls import path, re_path

from . import api, console, data_api, link, logos

app_name = "codat_sandbox"

_ID = r"[^/]+"

urlpatterns = [
    path("", console.console, name="console"),
    path(
        "console/connections/<str:connection_id>/expire",
        console.expire_connection,
        name="console_expire",
    ),
    path(
        "console/connections/<str:connection_id>/fail-next-sync",
        console.fail_next_sync,
        name="console_fail_next_sync",
    ),
    path("console/webhooks/<str:public_id>/replay", console.replay_message, name="console_replay"),
    path("console/webhooks/reorder", console.reorder_messages, name="console_reorder"),
    path("console/webhooks/hold", console.hold_delivery, name="console_hold"),
    path("console/webhooks/deliver", console.deliver_now, name="console_deliver"),
    path("console/faults", console.add_fault, name="console_add_fault"),
    path("console/faults/clear", console.clear_faults, name="console_clear_faults"),
    re_path(r"^codat/companies/?$", api.companies, name="api_companies"),
    re_path(rf"^codat/companies/(?P<company_id>{_ID})/?$", api.company, name="api_company"),
    re_path(
        rf"^codat/companies/(?P<company_id>{_ID})/connections/?$",
        api.connections,
        name="api_connections",
    ),
    re_path(
        rf"^codat/companies/(?P<company_id>{_ID})/connections/(?P<connection_id>{_ID})/?$",
        api.connection,
        name="api_connection",
    ),
    re_path(
        rf"^codat/companies/(?P<company_id>{_ID})/syncSettings/?$",
        api.sync_settings,
        name="api_sync_settings",
    ),
    re_path(
        rf"^codat/companies/(?P<company_id>{_ID})/data/queue/(?P<data_type>{_ID})/?$",
        api.data_queue,
        name="api_data_queue",
    ),
    re_path(
        rf"^codat/companies/(?P<company_id>{_ID})/data/all/?$", api.data_all, name="api_data_all"
    ),
    re_path(
        rf"^codat/companies/(?P<company_id>{_ID})/dataStatus/?$",
        api.data_status,
        name="api_data_status",
    ),
    re_path(
        rf"^codat/companies/(?P<company_id>{_ID})/data/history/?$",
        api.data_history,
        name="api_data_history",
    ),
    re_path(
        rf"^codat/companies/(?P<company_id>{_ID})/data/history/(?P<dataset_id>{_ID})/?$",
        api.data_history_item,
        name="api_data_history_item",
    ),
    re_path(
        rf"^codat/companies/(?P<company_id>{_ID})/data/info/?$",
        data_api.company_info,
        name="api_company_info",
    ),
    re_path(
        rf"^codat/companies/(?P<company_id>{_ID})/data/financials/profitAndLoss/?$",
        data_api.profit_and_loss,
        name="api_profit_and_loss",
    ),
    re_path(
        rf"^codat/companies/(?P<company_id>{_ID})/data/financials/balanceSheet/?$",
        data_api.balance_sheet,
        name="api_balance_sheet",
    ),
    re_path(
        rf"^codat/companies/(?P<company_id>{_ID})/data/financials/cashFlowStatement/?$",
        data_api.cash_flow_statement,
        name="api_cash_flow_statement",
    ),
    re_path(
        rf"^codat/companies/(?P<company_id>{_ID})/connections/(?P<connection_id>{_ID})"
        r"/data/banking-accounts/?$",
        data_api.bank_accounts,
        name="api_bank_accounts",
    ),
    re_path(
        rf"^codat/companies/(?P<company_id>{_ID})/connections/(?P<connection_id>{_ID})"
        r"/data/banking-accountBalances/?$",
        data_api.bank_balances,
        name="api_bank_balances",
    ),
    re_path(
        rf"^codat/companies/(?P<company_id>{_ID})/connections/(?P<connection_id>{_ID})"
        r"/data/banking-transactions/?$",
        data_api.bank_transactions,
        name="api_bank_transactions",
    ),
    re_path(r"^codat/profile/?$", api.profile, name="api_profile"),
    re_path(
        r"^codat/profile/syncSettings/?$",
        api.profile_sync_settings,
        name="api_profile_sync_settings",
    ),
    re_path(r"^codat/webhooks/?$", api.webhook_consumers, name="api_webhook_consumers"),
    re_path(
        rf"^codat/webhooks/(?P<webhook_id>{_ID})/?$",
        api.webhook_consumer,
        name="api_webhook_consumer",
    ),
    re_path(r"^codat/integrations/?$", api.integrations, name="api_integrations"),
    re_path(
        rf"^codat/integrations/(?P<platform_key>{_ID})/?$",
        api.integration,
        name="api_integration",
    ),
    re_path(
        rf"^codat/integrations/(?P<platform_key>{_ID})/branding/?$",
        api.integration_branding,
        name="api_integration_branding",
    ),
    # Anything else under the API answers like Codat (JSON 404), not with the app's HTML page.
    re_path(r"^codat(?:/.*)?$", api.not_found, name="api_not_found"),
    path("assets/logos/<str:platform_key>/<str:name>", logos.logo, name="assets_logo"),
    path("link/company/<str:company_id>", link.link_company, name="link_company"),
    path(
        "link/companies/<str:company_id>/connections/<str:connection_id>/start",
        link.link_start,
        name="link_start",
    ),
]
