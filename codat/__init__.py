"""The one way out to Codat: an httpx client, typed results and named errors.

A plain library: it imports nothing from Django or from the project's apps. The app builds a
client with `companies.codat_client.get_client()`, which hands it the consent gate.
"""
