"""Codat from our side: the Platform API client and Codat's webhook events.

A plain library: it imports nothing from Django or from the project's apps.

- `client`: `CodatClient`, one method per Codat operation the portal uses, and the consent gate;
- `http`: its request machinery (timeouts, budget, retries, circuit breaker, named errors);
- `parsing`: Codat's JSON to the typed results in `types`; `errors`: the named errors;
- `breaker`: the circuit breaker; `transport`: the in-process transport to the sandbox;
- `webhook_events`: a verified webhook body read into a typed event.

The app builds a client with `companies.codat_client.get_client()`, which hands it the consent
gate.
"""
