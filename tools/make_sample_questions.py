"""Write nbrag/data/samples/questions.csv from the questions below, in Chroma's chunking-evaluation format.

    python tools/make_sample_questions.py          # regenerate the CSV
    python tools/make_sample_questions.py --check  # fail if the CSV is out of date

Each reference is a passage copied from a corpus document; its character offsets are found
with ``str.find``, and a passage that is missing or occurs twice stops the script. After
editing a document, run this again: the offsets follow the text.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys
from pathlib import Path

SAMPLES = Path(__file__).resolve().parents[1] / "nbrag" / "data" / "samples"

# (document id, question, reference passages that answer it)
QUESTIONS: list[tuple[str, str, list[str]]] = [
    # ------------------------------------------------------------------ weather_station
    ("weather_station", "Why must a thermometer be kept inside a radiation shield?", [
        "The sensor must measure the temperature of the air, not the warmth of the sunshine falling on it. "
        "For that reason every thermometer belongs inside a radiation shield: a stack of white, louvred plates, "
        "or a ventilated wooden box known as a Stevenson screen, that keeps direct and reflected sunlight off "
        "the sensor while letting air move freely around it."]),
    ("weather_station", "How does a tipping-bucket rain gauge measure rainfall?", [
        "A tipping-bucket gauge sends rain from its funnel into a small seesaw with two buckets; each time one "
        "side fills, it tips, empties, and closes a switch.",
        "The logger counts the tips, and each tip stands for a fixed depth of rain, typically 0.2 mm."]),
    ("weather_station", "Why do tipping-bucket gauges under-read in heavy rain, and how do groups make up for it?", [
        "Tipping buckets are convenient, but they under-read in heavy downpours because water keeps arriving "
        "while the bucket is tipping.",
        "Many groups keep a manual gauge beside the automatic one and use the daily manual reading as the "
        "reference total."]),
    ("weather_station", "Can the barometer be placed indoors?", [
        "Barometric pressure, by contrast, is easy: the sensor can sit indoors, because the air pressure is the "
        "same inside and outside a building that is not sealed."]),
    ("weather_station", "At what height should the temperature sensor be mounted, and over what surface?", [
        "| Temperature and humidity | 1.25 to 2 m | at least twice the obstacle's height | short grass or natural "
        "ground |"]),
    ("weather_station", "How quickly do humidity sensors drift, and when should one be replaced?", [
        "humidity sensors in particular drift as their sensing film ages, often by a few percent a year.",
        "Repeat the temperature and humidity comparison once a year, and replace the humidity sensor when its "
        "offset exceeds about five percent."]),
    ("weather_station", "How can I check the accuracy of a rain gauge?", [
        "Check the rain gauge by pouring a measured volume of water slowly into the funnel, and compare the "
        "logged total with the depth that volume should give for the area of the funnel."]),
    ("weather_station", "Should calibration corrections be applied directly to the raw data?", [
        "Adjustments should be stored as separate correction values rather than applied silently to the raw "
        "data. If a correction later turns out to be wrong, the raw record can still be reprocessed."]),
    ("weather_station", "Why should timestamps be stored in UTC rather than local time?", [
        "All times should be stored in Coordinated Universal Time (UTC), not in local time. Local clocks jump "
        "twice a year in many countries, which creates a missing hour in spring and a doubled hour in autumn."]),
    ("weather_station", "How do I convert a pressure reading in inches of mercury to hectopascals?", [
        '"pressure_hpa": round(reading["pressure_inhg"] * 33.8639, 1),']),
    ("weather_station", "Why does an unheated rain gauge give misleading readings in winter?", [
        "In winter, a heated gauge or a manual snow measurement is needed where snow is common, because an "
        "unheated tipping bucket records snow only when it melts, sometimes days later."]),
    ("weather_station", "What should volunteers write in the station log?", [
        "The station log is a notebook or shared document in which volunteers write down everything that might "
        "affect the readings: visits, cleaning, battery changes, a new fence nearby, a tree felled."]),
    # ------------------------------------------------------------------ lighthouses
    ("lighthouses", "When and where was the Pharos of Alexandria built?", [
        "The most famous lighthouse of the ancient world was the Pharos of Alexandria, built in the third "
        "century BC on an island at the entrance to the harbour of Alexandria in Egypt."]),
    ("lighthouses", "What made the Argand lamp brighter than earlier oil lamps?", [
        "A major improvement came in the 1780s, when the Swiss inventor Aimé Argand designed an oil lamp with a "
        "hollow, circular wick. Air flowed up through the centre of the wick as well as around the outside, and "
        "a glass chimney drew the flame upwards."]),
    ("lighthouses", "What does a parabolic reflector do with the light of a lamp?", [
        "A parabolic reflector sends the light from its focus out in a narrow, nearly parallel beam."]),
    ("lighthouses", "Where was the first Fresnel lighthouse lens installed?", [
        "The first lighthouse lens of his design was installed at the Cordouan lighthouse, at the mouth of the "
        "Gironde estuary, in 1823."]),
    ("lighthouses", "Why is a Fresnel lens thinner and lighter than a conventional lens?", [
        "Fresnel saw that only the curved surface of a lens bends light. He divided that surface into concentric "
        "rings, each with the correct curvature, and mounted them on a flat frame, removing the useless glass "
        "behind them."]),
    ("lighthouses", "What is the difference between a dioptric and a catadioptric lens?", [
        "reflecting prisms at the top and bottom, which turn rays that would escape upwards or downwards by "
        "total internal reflection",
        "A lens that uses only refraction is called dioptric; one that also uses the reflecting prisms is called "
        "catadioptric."]),
    ("lighthouses", "What is the focal distance of a fourth-order lens, and where are such lenses used?", [
        "| Fourth | 250 mm | harbour entrances and sounds |"]),
    ("lighthouses", "How does an occulting light differ from a flashing light?", [
        "flashing, with periods of light shorter than the periods of darkness; occulting, with periods of light "
        "longer than the darkness"]),
    ("lighthouses", "How were rotating lighthouse lenses turned before electric motors?", [
        "From the 1890s, many heavy lenses floated on a bath of mercury, which let them turn smoothly with little "
        "friction. The motion came from clockwork driven by a falling weight, which the keeper wound up by hand "
        "every few hours."]),
    ("lighthouses", "What is the nominal range of a light?", [
        "The nominal range is the luminous range in a standard clear atmosphere, with a meteorological "
        "visibility of ten nautical miles, and it is the figure usually printed on charts."]),
    ("lighthouses", "From how far away can a light 60 metres above the sea be seen over the horizon?", [
        "return 2.08 * (sqrt(light_height_m) + sqrt(eye_height_m))",
        "A light 60 metres above the sea, seen by an observer whose eye is five metres above the water, clears "
        "the horizon at roughly 20 nautical miles."]),
    ("lighthouses", "When did the last lighthouse keepers in England leave their post?", [
        "In England, the last keepers left North Foreland lighthouse in Kent in 1998."]),
    # ------------------------------------------------------------------ tea
    ("tea", "《茶经》是谁写的？书中记述了哪些内容？", [
        "陆羽写成了《茶经》，系统地记述了茶树的种植、茶叶的采制和煎煮的方法，这是世界上现存最早的茶学专著。"]),
    ("tea", "为什么英语把茶叫作tea？", [
        "经海路传出去的，多来自闽南话的读音，如英语的tea和法语的thé；"]),
    ("tea", "茶树适合生长在什么样的土壤中？", [
        "茶树偏爱酸性土壤，土壤的酸碱度（pH值）以4.5至6.5为宜；在碱性土壤中，茶树往往生长不良，叶片发黄。"]),
    ("tea", "明前茶和雨前茶有什么区别？", [
        "清明前采制的茶叫“明前茶”。这时气温还不高，茶芽刚刚萌发，数量少，芽叶细嫩，因此明前茶产量低、价格高。",
        "清明之后、谷雨之前采制的茶叫“雨前茶”，芽叶比明前茶稍大，滋味往往更为浓厚，价格也相对实惠。"]),
    ("tea", "乌龙茶属于哪种发酵程度？它的关键工序是什么？", [
        "| 乌龙茶 | 半发酵 | 做青 | 铁观音、大红袍 |",
        "乌龙茶的“做青”则最为复杂：茶叶在竹筛中反复摇动和静置，叶片边缘因相互碰撞而局部氧化，形成“绿叶红镶边”的特点"]),
    ("tea", "绿茶加工中的杀青起什么作用？", [
        "绿茶的关键在于“杀青”，即用高温迅速破坏鲜叶中的酶，阻止多酚类物质氧化，从而保持叶片和茶汤的绿色。"]),
    ("tea", "做一公斤干茶大约需要多少鲜叶？", [
        "鲜叶中的水分大约占百分之七十五到八十，加工成干茶后只剩百分之五到七，再加上加工中的碎末损耗，"
        "通常要四到五公斤鲜叶才能做出一公斤干茶。"]),
    ("tea", "冲泡绿茶应该用多少度的水？", [
        "细嫩的绿茶不宜用沸水，用八十摄氏度左右的水冲泡为好，否则容易把嫩芽烫熟，使茶汤变黄、滋味苦涩。"]),
    ("tea", "感官审评从哪几个方面评价茶叶的品质？", [
        "专业人员评价茶叶品质时，通常采用感官审评的方法，从外形、汤色、香气、滋味和叶底五个方面分别打分。"]),
    ("tea", "绿茶应该怎样储存？", [
        "绿茶最好密封后放入冰箱冷藏，以保持新鲜的颜色和香气；"]),
]


def locate(text: str, passage: str, doc: str) -> tuple[int, int]:
    """The one place where ``passage`` occurs in ``text``; stop if it is missing or not unique."""
    start = text.find(passage)
    if start < 0:
        raise SystemExit(f"{doc}: passage not found: {passage[:70]!r}")
    if text.find(passage, start + 1) >= 0:
        raise SystemExit(f"{doc}: passage occurs more than once, quote more of it: {passage[:70]!r}")
    return start, start + len(passage)


def render() -> str:
    documents: dict[str, str] = {}
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["question", "references", "corpus_id"])
    for doc, question, passages in QUESTIONS:
        if doc not in documents:
            documents[doc] = (SAMPLES / "corpus" / f"{doc}.md").read_text(encoding="utf-8")
        refs = []
        for passage in passages:
            start, end = locate(documents[doc], passage, doc)
            refs.append({"content": passage, "start_index": start, "end_index": end})
        writer.writerow([question, json.dumps(refs, ensure_ascii=False), doc])
    return out.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if questions.csv differs from what would be written")
    args = parser.parse_args()
    target = SAMPLES / "questions.csv"
    text = render()
    if args.check:
        current = target.read_text(encoding="utf-8") if target.exists() else ""
        if current != text:
            sys.exit(f"{target} is out of date: run python tools/make_sample_questions.py")
        print(f"{target} is up to date")
        return
    target.write_text(text, encoding="utf-8", newline="")
    print(f"wrote {len(QUESTIONS)} questions to {target}")


if __name__ == "__main__":
    main()
