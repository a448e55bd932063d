"""Locust users for bench/load.py: logged-in customers browsing the portal.

Each user takes one prepared session (cookie set directly, no login flow) from the JSON
file named by LOAD_USERS_FILE and browses the subscriptions overview, the invoices, one
organization's device list (first pages, sometimes a state filter) and the Edit
Subscription preview, with a think time of 0.5 to 1.5 s between pages.
"""

import itertools
import json
import os
import random

from locust import between, task
from locust.contrib.fasthttp import FastHttpUser

with open(os.environ["LOAD_USERS_FILE"]) as users_file:
    USERS = json.load(users_file)
_next_user = itertools.count()


class Customer(FastHttpUser):
    wait_time = between(0.5, 1.5)

    def on_start(self):
        self.me = USERS[next(_next_user) % len(USERS)]
        self.headers = {"Cookie": f"sessionid={self.me['session']}"}

    def _get(self, path, name):
        with self.client.get(
            path, headers=self.headers, name=name, allow_redirects=False, catch_response=True
        ) as response:
            if response.status_code != 200:
                response.failure(f"{response.status_code}")

    @task(3)
    def subscriptions(self):
        self._get("/subscriptions/", "subscriptions")

    @task(3)
    def invoices(self):
        page = random.choice(("", "", "?page=2", "?status=paid"))
        self._get(f"/invoices/{page}", "invoices")

    @task(3)
    def organization(self):
        organization = random.choice(self.me["organizations"])
        query = random.choice(("", "", "?page=2", "?state=in_the_field"))
        self._get(f"/organizations/{organization}/{query}", "organization devices")

    @task(2)
    def preview(self):
        subscription, quantity = random.choice(self.me["subscriptions"])
        quantity += random.choice((1, 2, 5))
        self._get(
            f"/subscriptions/{subscription}/preview/?quantity={quantity}", "subscription preview"
        )
