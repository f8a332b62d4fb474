"""The throwaway PostgreSQL of the outage tests starts even when its port was taken."""

from __future__ import annotations

import asyncio
import socket

import asyncpg

from tests.throwaway_postgres import ThrowawayPostgres


def test_a_first_start_moves_off_a_port_another_process_took() -> None:
    server = ThrowawayPostgres()
    taken = server.port
    try:
        with socket.socket() as squatter:
            # Another process binds the port between its choice and the start.
            squatter.bind(("127.0.0.1", taken))
            squatter.listen()
            server.start()
        assert server.port != taken

        async def answers() -> int:
            connection = await asyncpg.connect(server.admin_dsn)
            try:
                return int(await connection.fetchval("SELECT 1"))
            finally:
                await connection.close()

        assert asyncio.run(answers()) == 1
        # A restart keeps the port it started on (a running worker has it in its URL).
        moved = server.port
        server.stop()
        server.start()
        assert server.port == moved
    finally:
        server.remove()
