"""Sichuan's prefecture-level divisions and their county-level divisions, in the official order.

21 prefecture-level divisions (18 cities and 3 autonomous prefectures) and 183 county-level
divisions (districts, county-level cities, counties), as of the 2021 changes (新津 became a
district of 成都, 会理 a county-level city). Only names are used: the demo's ids stay
``p01``, ``p01c01``.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Prefecture:
    name: str
    counties: tuple[str, ...]
    minority_area: bool = False  # Tibetan and Yi areas: township and village names read differently


def _p(name: str, counties: str, minority_area: bool = False) -> Prefecture:
    return Prefecture(name, tuple(counties.split()), minority_area)


PREFECTURES: tuple[Prefecture, ...] = (
    _p("成都市", "锦江区 青羊区 金牛区 武侯区 成华区 龙泉驿区 青白江区 新都区 温江区 双流区 郫都区 新津区 "
                "金堂县 大邑县 蒲江县 都江堰市 彭州市 邛崃市 崇州市 简阳市"),
    _p("自贡市", "自流井区 贡井区 大安区 沿滩区 荣县 富顺县"),
    _p("攀枝花市", "东区 西区 仁和区 米易县 盐边县"),
    _p("泸州市", "江阳区 纳溪区 龙马潭区 泸县 合江县 叙永县 古蔺县"),
    _p("德阳市", "旌阳区 罗江区 中江县 广汉市 什邡市 绵竹市"),
    _p("绵阳市", "涪城区 游仙区 安州区 三台县 盐亭县 梓潼县 北川羌族自治县 平武县 江油市"),
    _p("广元市", "利州区 昭化区 朝天区 旺苍县 青川县 剑阁县 苍溪县"),
    _p("遂宁市", "船山区 安居区 蓬溪县 大英县 射洪市"),
    _p("内江市", "市中区 东兴区 威远县 资中县 隆昌市"),
    _p("乐山市", "市中区 沙湾区 五通桥区 金口河区 犍为县 井研县 夹江县 沐川县 峨边彝族自治县 马边彝族自治县 峨眉山市"),
    _p("南充市", "顺庆区 高坪区 嘉陵区 南部县 营山县 蓬安县 仪陇县 西充县 阆中市"),
    _p("眉山市", "东坡区 彭山区 仁寿县 洪雅县 丹棱县 青神县"),
    _p("宜宾市", "翠屏区 南溪区 叙州区 江安县 长宁县 高县 珙县 筠连县 兴文县 屏山县"),
    _p("广安市", "广安区 前锋区 岳池县 武胜县 邻水县 华蓥市"),
    _p("达州市", "通川区 达川区 宣汉县 开江县 大竹县 渠县 万源市"),
    _p("雅安市", "雨城区 名山区 荥经县 汉源县 石棉县 天全县 芦山县 宝兴县"),
    _p("巴中市", "巴州区 恩阳区 通江县 南江县 平昌县"),
    _p("资阳市", "雁江区 安岳县 乐至县"),
    _p("阿坝藏族羌族自治州", "马尔康市 汶川县 理县 茂县 松潘县 九寨沟县 金川县 小金县 黑水县 壤塘县 阿坝县 若尔盖县 "
                             "红原县", minority_area=True),
    _p("甘孜藏族自治州", "康定市 泸定县 丹巴县 九龙县 雅江县 道孚县 炉霍县 甘孜县 新龙县 德格县 白玉县 石渠县 色达县 "
                         "理塘县 巴塘县 乡城县 稻城县 得荣县", minority_area=True),
    _p("凉山彝族自治州", "西昌市 会理市 木里藏族自治县 盐源县 德昌县 会东县 宁南县 普格县 布拖县 金阳县 昭觉县 喜德县 "
                         "冕宁县 越西县 甘洛县 美姑县 雷波县", minority_area=True),
)

COUNTY_COUNT = sum(len(p.counties) for p in PREFECTURES)  # 183


def spread(items: tuple, count: int) -> list:
    """``count`` of ``items`` spread evenly over the list (the first one always), so a small
    demo shows a city district and a rural county rather than the first few districts."""
    if count >= len(items):
        return list(items)
    return [items[(i * len(items)) // count] for i in range(count)]
