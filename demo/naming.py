"""Plausible Chinese names for the demo's schools and teachers, deterministic from a seed.

Township and village names are made up from common place-name parts (Tibetan and Yi areas
from syllables that read like theirs), so any resemblance to a real school is chance. A
county's schools follow the usual shape: a few large schools in the county town (实验小学,
第一中学, 第二中学), township central primary and middle schools, nine-year schools, and
small village schools (村小).
"""

from __future__ import annotations

import random
from dataclasses import dataclass

# Common surnames, Sichuan's frequent ones first (several twice: weights, not a set).
SURNAMES = tuple(
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘蒋蔡余杜叶程苏魏吕丁任沈姚卢"
    "姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛段雷侯龙史陶黎贺顾毛郝龚邵万严覃武戴莫孔向汤"
    "李王张刘陈杨罗何邓曾廖谢唐周赵黄吴胡"
)
GIVEN = tuple(
    "伟 芳 娜 敏 静 丽 强 磊 军 洋 勇 艳 杰 娟 涛 明 超 霞 平 刚 华 红 文 斌 琳 雪 晨 宇 浩 婷 欣 丹 蓉 燕 鹏 飞 "
    "俊 波 莉 梅 林 琴 兰 英 凤 莹 倩 颖 佳 雨 秀英 桂英 建华 建国 玉兰 晓燕 小红 志强 海燕 春梅 德明 永红 国庆 "
    "晓东 丽华 红梅 建军 雪梅 思雨 子涵 俊杰 家豪 明辉 文静 晓丽 秋菊 玉梅 光明 志华 会芳 小琴 德华 春燕 "
    "晓峰 建平 玉珍 国华 红英 志刚 海军 丽萍 小兵 金花 晓霞 永华 秀兰 德勇 琼 勤 蓓 翠 兵 川 渝 巧 "
    "文华 学军 明军 国平 淑芬 晓梅 小燕 正华 长春 秀芳 代琼 定国 光华 婷婷 欣怡 宇航 浩然 梓涵 雨欣".split()
)
_PLACE_FIRST = tuple("龙石白青黄金马新太高永兴安福花柏双三回乐清长平宝红古凤云天万顺合东西南北复同仁和玉桂观罗")
_PLACE_SECOND = tuple("泉坝桥溪山河滩场口水林池岩湾庙堰田坪沟塘寺铺关寨垭丰江峰源")
_VILLAGES = tuple(
    "红旗 团结 光明 新华 胜利 和平 联合 民主 建设 幸福 友谊 前进 先锋 永丰 长林 双河 金竹 桂花 柏林 白果 松林 "
    "杨柳 荷花 石龙 大湾 凉水 龙井 高峰 青杠 黄桷 楠木 桃园 梨树 核桃 茶园 竹林 观音 回龙 狮子 白鹤 金山 银杏 "
    "槐树 新民 向阳 五星 玉泉 清泉 响水 石桥 马鞍 凤凰 太平 杉树 桅杆 水井 石板 花园 中和 兴隆".split()
)
_MINORITY_SYLLABLES = tuple("甲尼扎色拉木格俄日达觉布洛沙阿依吉瓦尔则莫库普补洛拖昭美合朗卡呷康")


@dataclass(frozen=True)
class SchoolKind:
    """A kind of school and its usual number of pupils."""

    code: str
    low: int
    high: int


COUNTY_PRIMARY = SchoolKind("county_primary", 1200, 2600)
COUNTY_MIDDLE = SchoolKind("county_middle", 1500, 3200)
COUNTY_SECOND = SchoolKind("county_second", 900, 2200)
TOWN_PRIMARY = SchoolKind("town_primary", 300, 950)
TOWN_MIDDLE = SchoolKind("town_middle", 350, 1200)
NINE_YEAR = SchoolKind("nine_year", 150, 700)
VILLAGE = SchoolKind("village", 12, 120)


def _township(rng: random.Random, minority: bool) -> str:
    if minority:
        return "".join(rng.sample(_MINORITY_SYLLABLES, rng.choice((2, 2, 3)))) + "乡"
    return rng.choice(_PLACE_FIRST) + rng.choice(_PLACE_SECOND) + rng.choice("镇镇镇乡")


def _village(rng: random.Random, minority: bool) -> str:
    """A village's name without "村" (its school is "<name>村小" or "<name>村小学")."""
    return "".join(rng.sample(_MINORITY_SYLLABLES, 2)) if minority else rng.choice(_VILLAGES)


def county_stem(prefecture: str, county: str) -> str:
    """How a county appears in its schools' names: "金堂县", or "成都市锦江区" for a district."""
    return prefecture + county if county.endswith("区") else county


def school_kind(index: int, rng: random.Random, *, district: bool) -> SchoolKind:
    """The kind of a county's ``index``-th school (0-based): the county-town schools first."""
    if index < 3:
        return (COUNTY_PRIMARY, COUNTY_MIDDLE, COUNTY_SECOND)[index]
    roll = rng.random()
    if district:  # a city district: few village schools
        return TOWN_PRIMARY if roll < 0.5 else TOWN_MIDDLE if roll < 0.8 else NINE_YEAR if roll < 0.95 else VILLAGE
    return (VILLAGE if roll < 0.4 else TOWN_PRIMARY if roll < 0.7 else TOWN_MIDDLE if roll < 0.88
            else NINE_YEAR)


def school_name(kind: SchoolKind, stem: str, rng: random.Random, *, minority: bool, taken: set[str]) -> str:
    """A name for a school of ``kind`` in the county ``stem`` not yet in ``taken`` (added to it)."""
    for attempt in range(50):
        if kind is COUNTY_PRIMARY:
            name = f"{stem}实验小学"
        elif kind is COUNTY_MIDDLE:
            name = f"{stem}第一中学"
        elif kind is COUNTY_SECOND:
            name = f"{stem}第二中学"
        elif kind is TOWN_PRIMARY:
            name = f"{stem}{_township(rng, minority)}中心小学"
        elif kind is TOWN_MIDDLE:
            name = f"{stem}{_township(rng, minority)}{rng.choice(('初级中学', '中学'))}"
        elif kind is NINE_YEAR:
            name = f"{stem}{_township(rng, minority)}九年制学校"
        else:
            name = f"{stem}{_township(rng, minority)}{_village(rng, minority)}{rng.choice(('村小学', '村小'))}"
        if attempt >= 40:  # a county with very many schools: number them, as counties do
            name = f"{stem}第{attempt - 37}{'中学' if 'middle' in kind.code else '小学'}"
        if name not in taken:
            taken.add(name)
            return name
    raise RuntimeError(f"no free school name in {stem}")  # cannot happen below ~10,000 schools a county


def person_name(rng: random.Random) -> str:
    """A common Chinese name: a surname and a one- or two-character given name."""
    return rng.choice(SURNAMES) + rng.choice(GIVEN)
