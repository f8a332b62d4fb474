"""A bare aiohttp handler: the ceiling the web channel's throughput is measured against.

It does what any form handler must (parse the body, answer with a redirect) and nothing
else: no database, no templates.
"""

from __future__ import annotations

import sys

from aiohttp import web


async def answer(request: web.Request) -> web.Response:
    await request.post()
    return web.Response(status=303, headers={"Location": "/c/bench"})


def main() -> None:
    app = web.Application()
    app.add_routes([web.post("/c/{cid}/answers", answer)])
    web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), access_log=None, print=None)


if __name__ == "__main__":
    main()
