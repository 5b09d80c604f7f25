"""A contact's page, search and split, on the pages and in the API; staff see a person
only through their departments' items."""

from __future__ import annotations

import io
import zipfile

from flask import Flask
from flask.testing import FlaskClient

from intake.cli.runtime import Runtime
from tests.support.contacts import ANA_ADDRESS, ANA_NUMBER, two_people
from tests.support.people import office_client


def test_a_contacts_page_and_api_list_every_item_newest_first(runtime: Runtime, client: FlaskClient) -> None:
    people = two_people(runtime)
    text, email, photo = people.ana_items
    shown = client.get(f"/api/v1/contacts/{people.ana_contact}").get_json()
    assert [(i["id"], i["channel"], i["department"]) for i in shown["items"]] == [
        (photo, "email", "sales"),
        (email, "email", "billing"),
        (text, "sms", "front-desk"),
    ]
    page = client.get(f"/contacts/{people.ana_contact}").get_data(as_text=True)
    assert page.index(f"#{photo} ") < page.index(f"#{email} ") < page.index(f"#{text} ")
    item = client.get(f"/api/v1/items/{email}").get_json()
    assert item["contact"] == {"id": people.ana_contact, "name": "Ana Lima"}
    item_page = client.get(f"/items/{email}").get_data(as_text=True)
    assert (
        f"/contacts/{people.ana_contact}" in item_page
        and f"#{photo} <bdi>Photos of the boiler</bdi>" in item_page
    )


def test_search_finds_people_by_name_address_and_number_as_the_office_writes_it(
    runtime: Runtime, client: FlaskClient
) -> None:
    people = two_people(runtime)
    for query in ("ana lima", "HOME.example", "07700 900123", ANA_NUMBER):
        found = client.get("/api/v1/contacts", query_string={"q": query}).get_json()["contacts"]
        assert [c["id"] for c in found] == [people.ana_contact], query
    assert client.get("/api/v1/contacts", query_string={"q": "100%_"}).get_json()["contacts"] == []
    page = client.get("/contacts", query_string={"q": "stone"}).get_data(as_text=True)
    assert "Bob Stone" in page and "Ana Lima" not in page
    refused = client.get("/api/v1/contacts?q=%20")
    assert refused.status_code == 400 and "q is required" in refused.get_json()["error"]["message"]


def test_staff_see_a_person_only_through_their_departments(runtime: Runtime, app: Flask) -> None:
    people = two_people(runtime)
    text, email, photo = people.ana_items
    sales = office_client(app, runtime.sessions, "sam", "staff", ["sales"])
    shown = sales.get(f"/api/v1/contacts/{people.ana_contact}").get_json()
    assert [i["id"] for i in shown["items"]] == [photo]
    page = sales.get(f"/contacts/{people.ana_contact}").get_data(as_text=True)
    assert f"#{photo} " in page and f"#{email} " not in page and f"#{text} " not in page
    bob = sales.get(f"/api/v1/items/{people.bob_items[0]}")
    assert bob.status_code == 404
    billing = office_client(app, runtime.sessions, "bill", "staff", ["billing"])
    bob_contact = billing.get(f"/api/v1/items/{people.bob_items[0]}").get_json()["contact"]["id"]
    assert sales.get(f"/api/v1/contacts/{bob_contact}").status_code == 404
    assert sales.get(f"/contacts/{bob_contact}").status_code == 404
    assert sales.get("/api/v1/contacts?q=stone").get_json()["contacts"] == []
    assert sales.get("/api/v1/contacts/99999").status_code == 404


def test_a_number_split_off_takes_its_items_along_and_bad_splits_are_refused(
    runtime: Runtime, client: FlaskClient
) -> None:
    people = two_people(runtime)
    text, email, photo = people.ana_items
    path = f"/api/v1/contacts/{people.ana_contact}/split"
    for body, reason in (
        ({}, "send the address or number to split off"),
        ({"address": "nobody@nowhere.example"}, "has no address or number nobody@nowhere.example"),
        ({"address": "not an address"}, "neither an email address nor a phone number"),
    ):
        response = client.post(path, json=body)
        assert response.status_code == 400 and reason in response.get_json()["error"]["message"], body
    new = client.post(path, json={"address": "07700 900123"}).get_json()
    assert [a["value"] for a in new["addresses"]] == [ANA_NUMBER]
    assert [i["id"] for i in client.get(f"/api/v1/contacts/{new['id']}").get_json()["items"]] == [text]
    left = client.get(f"/api/v1/contacts/{people.ana_contact}").get_json()
    assert [a["value"] for a in left["addresses"]] == [ANA_ADDRESS]
    assert [i["id"] for i in left["items"]] == [photo, email]
    alone = client.post(path, json={"address": ANA_ADDRESS})
    assert alone.status_code == 400 and "only address" in alone.get_json()["error"]["message"]


def test_an_admin_downloads_a_persons_zip_and_nobody_else_does(
    runtime: Runtime, app: Flask, client: FlaskClient
) -> None:
    people = two_people(runtime)
    admin = office_client(app, runtime.sessions, "ada", "admin")
    page = admin.get(f"/contacts/{people.ana_contact}").get_data(as_text=True)
    assert f"/contacts/{people.ana_contact}/export" in page
    response = admin.get(f"/contacts/{people.ana_contact}/export")
    assert response.status_code == 200 and response.mimetype == "application/zip"
    names = zipfile.ZipFile(io.BytesIO(response.data)).namelist()
    assert "contact.json" in names and len([n for n in names if n.endswith("/raw.eml")]) == 2
    assert admin.get("/contacts/99999/export").status_code == 404
    assert f"/contacts/{people.ana_contact}/export" not in client.get(
        f"/contacts/{people.ana_contact}"
    ).get_data(as_text=True)
    assert client.get(f"/contacts/{people.ana_contact}/export").status_code == 404
