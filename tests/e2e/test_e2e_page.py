"""The page as a person uses it: real Chromium, real service, real photos from ../shared.

Every test leaves a screenshot in test-artifacts/e2e/ (see conftest.py).
"""

from __future__ import annotations

import base64
import math
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import httpx
import pytest
from playwright.sync_api import Page, Response, expect

GROUP = Path("pexels") / "pexels-andrea-piacquadio-2672979.jpg"
CHILD = Path("pexels") / "pexels-alexey-makhinko-929436.jpg"
OLDER_MAN = Path("pexels") / "pexels-andrea-piacquadio-834863.jpg"
CROWD = Path("dlib_examples") / "bald_guys.jpg"
RESULT = "[data-testid=face-box], [data-testid=no-faces], [data-testid=error]"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "e2e"

# The sentences the page shows (frontend/src/api/errors.ts).
NOT_AN_IMAGE = "This file is not an image the service can read. Please choose a JPEG, PNG, WebP or GIF photo."
BROKEN = "This image file seems to be damaged and could not be read. Please try another photo."
NETWORK = "The service could not be reached. Check your connection and try again."


def js_round(age: float) -> int:
    """JavaScript's Math.round (halves go up), which the labels use."""
    return math.floor(age + 0.5)


def is_predict(response: Response) -> bool:
    return urlparse(response.url).path == "/predict" and response.request.method == "POST"


def upload(page: Page, base: str, path: Path) -> Response:
    """Open the page, choose `path` with the file input, return the page's own /predict answer."""
    page.goto(base)
    with page.expect_response(is_predict) as answer:
        page.set_input_files("[data-testid=file-input]", str(path))
    page.wait_for_selector(RESULT)
    return answer.value


def check_overlay(page: Page, body: dict[str, Any]) -> None:
    """Every face has exactly one box whose label is the API's rounded age, placed on the face."""
    faces = body["faces"]
    width, height = body["image"]["width"], body["image"]["height"]
    boxes = page.get_by_test_id("face-box")
    expect(boxes).to_have_count(len(faces))
    expect(page.get_by_test_id("face-age")).to_have_count(len(faces))
    photo = page.locator(".photo-frame img").bounding_box()
    assert photo is not None
    scale_x, scale_y = photo["width"] / width, photo["height"] / height
    assert scale_x == pytest.approx(scale_y, rel=0.01), "the photo is shown stretched"
    seen = set()
    for i in range(len(faces)):
        box = boxes.nth(i)
        index = int(box.get_attribute("data-index") or "-1")
        seen.add(index)
        face = faces[index]
        assert box.get_by_test_id("face-age").inner_text() == str(js_round(face["age"]))
        x1, y1, x2, y2 = (
            max(0.0, min(v, lim)) for v, lim in zip(face["box"], (width, height) * 2, strict=True)
        )
        drawn = box.bounding_box()
        assert drawn is not None
        assert drawn["x"] == pytest.approx(photo["x"] + x1 * scale_x, abs=1.5)
        assert drawn["y"] == pytest.approx(photo["y"] + y1 * scale_y, abs=1.5)
        assert drawn["width"] == pytest.approx((x2 - x1) * scale_x, abs=1.5)
        assert drawn["height"] == pytest.approx((y2 - y1) * scale_y, abs=1.5)
    assert seen == set(range(len(faces)))


def test_group_photo_shows_a_box_and_the_api_age_for_every_face(
    page: Page, service: str, photos: Path
) -> None:
    original = photos / GROUP
    answer = upload(page, service, original)
    assert answer.status == 200
    body = answer.json()
    assert len(body["faces"]) >= 3, "the group photo should show several people"
    check_overlay(page, body)

    # The page shrank the photo before upload and says by how much.
    sent = int(answer.request.header_value("content-length") or 0)
    assert 0 < sent < original.stat().st_size
    assert max(body["image"]["width"], body["image"]["height"]) <= 1600
    expect(page.locator(".sizes")).to_contain_text("Original")
    expect(page.locator(".sizes")).to_contain_text("→ uploaded")
    expect(page.get_by_test_id("model-info")).to_contain_text(body["model"]["version"])
    expect(page.get_by_role("heading", name=f"{len(body['faces'])} faces found")).to_be_visible()

    # The same photo posted straight to the API finds as many faces.
    with original.open("rb") as handle:
        direct = httpx.post(
            f"{service}/predict", files={"file": (original.name, handle, "image/jpeg")}, timeout=120
        )
    assert direct.status_code == 200
    assert len(direct.json()["faces"]) == len(body["faces"])

    # Hovering a box reveals its interval; choosing a face in the list highlights its box.
    first = page.get_by_test_id("face-box").first
    interval = first.locator(".face-interval")
    expect(interval).to_be_hidden()
    first.hover()
    expect(interval).to_be_visible()
    expect(interval).to_contain_text("–")
    item = page.get_by_test_id("face-item").nth(1)
    item.click()
    expect(item).to_have_attribute("aria-pressed", "true")
    expect(page.locator("[data-testid=face-box].selected")).to_have_count(1)
    expect(page.locator("[data-testid=face-box].selected")).to_have_attribute("data-face", "2")

    # Boxes stay on their faces when the window changes size.
    page.set_viewport_size({"width": 820, "height": 700})
    check_overlay(page, body)


def test_phone_sized_screen_shows_the_same_result(phone_page: Page, service: str, photos: Path) -> None:
    answer = upload(phone_page, service, photos / GROUP)
    body = answer.json()
    assert len(body["faces"]) >= 3
    check_overlay(phone_page, body)
    # Nothing sticks out sideways on a 390 px screen.
    assert phone_page.evaluate("document.documentElement.scrollWidth") <= 390
    photo = phone_page.locator(".photo-frame").bounding_box()
    assert photo is not None and photo["x"] >= 0 and photo["x"] + photo["width"] <= 390
    expect(phone_page.get_by_test_id("face-item")).to_have_count(len(body["faces"]))


def test_picture_without_people_shows_the_no_face_message(
    page: Page, service: str, landscape_jpeg: Path
) -> None:
    answer = upload(page, service, landscape_jpeg)
    assert answer.status == 200 and answer.json()["faces"] == []
    expect(page.get_by_test_id("no-faces")).to_be_visible()
    expect(page.get_by_test_id("no-faces")).to_contain_text("No faces were found")
    expect(page.get_by_test_id("face-box")).to_have_count(0)


def test_text_file_gets_the_not_an_image_sentence(page: Page, service: str, tmp_path: Path) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("shopping list: apples, bread, coffee\n")
    answer = upload(page, service, notes)
    assert answer.status == 415
    expect(page.get_by_test_id("error")).to_have_text(NOT_AN_IMAGE)
    expect(page.get_by_test_id("face-box")).to_have_count(0)


def test_broken_jpeg_gets_the_damaged_file_sentence(
    page: Page, service: str, photos: Path, tmp_path: Path
) -> None:
    broken = tmp_path / "broken.jpg"
    broken.write_bytes((photos / GROUP).read_bytes()[:2000])
    answer = upload(page, service, broken)
    assert answer.status == 400
    expect(page.get_by_test_id("error")).to_have_text(BROKEN)


def test_sideways_photo_is_uploaded_upright(page: Page, service: str, rotated_jpeg: Path) -> None:
    body = upload(page, service, rotated_jpeg).json()
    # Stored 600x400 with EXIF "rotate 90°": the shrunk upload must be the upright 400x600.
    assert (body["image"]["width"], body["image"]["height"]) == (400, 600)
    assert len(body["faces"]) == 1
    check_overlay(page, body)


def test_keyboard_alone_chooses_a_photo_and_a_face(page: Page, service: str, photos: Path) -> None:
    # Listening early turns on Chromium's file-chooser interception before the key press.
    page.on("filechooser", lambda _chooser: None)
    page.goto(service)
    button = page.get_by_role("button", name="Choose a photo")
    expect(button).to_be_visible()
    # Tab until the picker has focus (the page's first stop; a late re-render may take it back once).
    for _ in range(4):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement?.textContent") == "Choose a photo":
            break
    expect(button).to_be_focused()
    with page.expect_file_chooser() as chooser:
        page.keyboard.press("Enter")
    with page.expect_response(is_predict) as answer:
        chooser.value.set_files(str(photos / GROUP))
    body = answer.value.json()
    expect(page.get_by_test_id("face-box")).to_have_count(len(body["faces"]))
    # Tab past the picker to the first face in the list and choose it with the keyboard.
    for _ in range(10):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement?.dataset?.testid") == "face-item":
            break
    focused = page.locator("[data-testid=face-item]:focus")
    expect(focused).to_have_count(1)
    page.keyboard.press("Enter")
    expect(focused).to_have_attribute("aria-pressed", "true")
    expect(page.locator("[data-testid=face-box].selected")).to_have_count(1)


def test_photo_dropped_on_the_page_is_analysed(page: Page, service: str, landscape_jpeg: Path) -> None:
    page.goto(service)
    data = base64.b64encode(landscape_jpeg.read_bytes()).decode()
    with page.expect_response(is_predict) as answer:
        page.evaluate(
            """(data) => {
                const bytes = Uint8Array.from(atob(data), (c) => c.charCodeAt(0));
                const transfer = new DataTransfer();
                transfer.items.add(new File([bytes], 'dropped.jpg', { type: 'image/jpeg' }));
                for (const type of ['dragenter', 'dragover', 'drop']) {
                  document.body.dispatchEvent(
                    new DragEvent(type, { dataTransfer: transfer, bubbles: true, cancelable: true }));
                }
            }""",
            data,
        )
    assert answer.value.status == 200
    expect(page.get_by_test_id("no-faces")).to_be_visible()


def test_service_out_of_reach_gets_the_network_sentence(page: Page, service: str, photos: Path) -> None:
    page.goto(service)
    # The page is loaded; now the connection to /predict fails the way a dropped network does.
    page.route("**/predict", lambda route: route.abort("internetdisconnected"))
    page.set_input_files("[data-testid=file-input]", str(photos / GROUP))
    expect(page.get_by_test_id("error")).to_have_text(NETWORK)
    expect(page.get_by_role("button", name="Choose a photo")).to_be_enabled()


def test_crowd_photo_keeps_every_label(page: Page, service: str, photos: Path) -> None:
    body = upload(page, service, photos / CROWD).json()
    assert len(body["faces"]) >= 20
    check_overlay(page, body)
    expect(page.locator(".photo-frame.crowded")).to_have_count(1 if len(body["faces"]) >= 25 else 0)


def test_webcam_still_is_analysed(camera_page: Page, service: str) -> None:
    camera_page.goto(service)
    camera_page.get_by_role("button", name="Take a photo with the camera").click()
    video = camera_page.get_by_label("Camera preview")
    expect(video).to_be_visible()
    camera_page.wait_for_function("document.querySelector('video')?.videoWidth > 0")
    with camera_page.expect_response(is_predict) as answer:
        camera_page.get_by_role("button", name="Take photo").click()
    assert answer.value.status == 200
    body = answer.value.json()
    assert body["image"]["width"] > 0 and body["image"]["height"] > 0
    # Chromium's fake camera shows a test pattern, not a person.
    expect(camera_page.get_by_test_id("no-faces")).to_be_visible()
    expect(video).to_have_count(0)


def test_page_without_a_camera_offers_no_camera_button(page: Page, service: str) -> None:
    page.goto(service)
    expect(page.get_by_role("button", name="Choose a photo")).to_be_visible()
    # Ask the browser the same question the page asked at start-up; the page's answer came first.
    kinds = page.evaluate("navigator.mediaDevices.enumerateDevices().then((ds) => ds.map((d) => d.kind))")
    assert "videoinput" not in kinds
    expect(page.get_by_role("button", name="Take a photo with the camera")).to_have_count(0)


def _badges_match(page: Page, body: dict[str, Any], threshold: int) -> list[str]:
    """Every face's badge says what the API's verdict says: short on the photo, in full in the list."""
    words = {"under": f"under {threshold}", "uncertain": "ask for ID", "over": f"over {threshold}"}
    sentences = {"under": f"under {threshold}", "uncertain": "not sure — ask for ID"}
    verdicts = []
    boxes = page.get_by_test_id("face-box")
    expect(boxes).to_have_count(len(body["faces"]))
    for i in range(len(body["faces"])):
        box = boxes.nth(i)
        (check,) = body["faces"][int(box.get_attribute("data-index") or "-1")]["age_checks"]
        assert check["threshold"] == threshold
        expect(box.get_by_test_id("check-badge")).to_have_text(words[check["verdict"]])
        expect(box.get_by_test_id("check-badge")).to_have_attribute("data-verdict", check["verdict"])
        verdicts.append(check["verdict"])
    listed = page.get_by_test_id("face-item").get_by_test_id("check-badge")
    expect(listed).to_have_count(len(verdicts))
    full = [c["age_checks"][0] for c in body["faces"]]
    expected = sorted(
        sentences.get(c["verdict"], f"over {threshold} · {js_round(c['p_over'] * 100)} %") for c in full
    )
    assert sorted(listed.all_inner_texts()) == expected
    return verdicts


def test_age_check_badges_for_each_verdict_and_a_switch_reasks_the_same_photo(
    page: Page, service: str, photos: Path
) -> None:
    page.goto(service)
    page.get_by_role("radio", name="18+").check()
    with page.expect_response(is_predict) as answer:
        page.set_input_files("[data-testid=file-input]", str(photos / CHILD))
    assert parse_qs(urlparse(answer.value.url).query) == {"thresholds": ["18"]}
    expect(page.get_by_test_id("check-badge").first).to_be_visible()
    assert _badges_match(page, answer.value.json(), 18) == ["under"]

    # Another check re-asks the service for the photo on screen; nobody picks it again.
    with page.expect_response(is_predict) as again:
        page.get_by_role("radio", name="25+").check()
    assert parse_qs(urlparse(again.value.url).query) == {"thresholds": ["25"]}
    expect(page.get_by_test_id("check-badge").first).to_have_text("under 25")

    page.reload()  # the choice is remembered
    expect(page.get_by_role("radio", name="25+")).to_be_checked()
    with page.expect_response(is_predict) as older:
        page.set_input_files("[data-testid=file-input]", str(photos / OLDER_MAN))
    expect(page.get_by_test_id("check-badge").first).to_be_visible()
    assert _badges_match(page, older.value.json(), 25) == ["over"]

    with page.expect_response(is_predict) as group:
        page.set_input_files("[data-testid=file-input]", str(photos / GROUP))
    expect(page.get_by_test_id("check-badge").first).to_be_visible()
    assert "uncertain" in _badges_match(page, group.value.json(), 25)  # young adults near 25
    # The picture at the top of the README (docs/screenshot.png is a copy of it, shrunk).
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.locator(".result").screenshot(path=str(ARTIFACTS / "readme-age-check.png"))

    with page.expect_response(is_predict) as off:
        page.get_by_role("radio", name="off").check()
    assert urlparse(off.value.url).query == ""
    expect(page.get_by_test_id("face-box")).to_have_count(len(group.value.json()["faces"]))
    expect(page.get_by_test_id("check-badge")).to_have_count(0)
