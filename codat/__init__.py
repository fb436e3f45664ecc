"""The one way out to Codat: an httpx client, typed results and named errors.

Nothing here touches Django models; the rest of the app imports `get_client()` and the errors.
"""
