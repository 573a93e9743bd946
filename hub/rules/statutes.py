"""The statute table: for each venue type, what the law forbids as to minors, who enforces it, the
penalty, and the legal source — with how sure the source is (RULES.md marks: ✔ official text,
~ reports only, ◦ interpretation; ◦ items are settings, see ``RulesConfig``)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Department(StrEnum):
    CULTURE_TOURISM = "culture_tourism"
    POLICE = "police"
    MARKET_REGULATION = "market_regulation"


class MinorRule(StrEnum):
    NEVER = "never"  # minors may not be admitted at all
    DEVICES_HOLIDAYS_ONLY = "devices_holidays_only"  # may enter; game devices only on statutory holidays
    RECORD_GUARDIAN = "record_guardian"  # may stay; guardian contact and co-occupant relationship recorded
    NOT_IN_ESPORTS_ZONE = "not_in_esports_zone"  # hotel: no minors in e-sports rooms (all-e-sports: none at all)
    HOLIDAYS_WEEKENDS_VACATIONS = "holidays_weekends_vacations"  # only then


@dataclass(frozen=True)
class Source:
    citation: str
    certainty: str  # "✔" official text, "~" reports, "◦" interpretation


@dataclass(frozen=True)
class VenueRule:
    venue_type: str
    name_zh: str
    name_en: str
    minors: MinorRule
    forbidden: str  # what the law forbids, in one sentence
    forbidden_zh: str
    enforcers: tuple[Department, ...]  # the first is the lead for admitting a minor
    penalty: str
    sources: tuple[Source, ...]
    sign: str  # the sign the venue must post

    @property
    def lead(self) -> Department:
        return self.enforcers[0]


MPL = "Minors Protection Law (未成年人保护法)"
RULES: dict[str, VenueRule] = {
    r.venue_type: r
    for r in (
        VenueRule(
            "ktv",
            "歌舞娱乐场所",
            "KTV / dance venue",
            MinorRule.NEVER,
            "admitting a minor (under 18)",
            "接纳未成年人（未满18周岁）进入",
            (Department.CULTURE_TOURISM, Department.POLICE),
            "confiscate gains + 1-3× gains, or ¥10k-30k if gains < ¥10k; serious: suspension 1-6 months "
            "(娱乐场所管理条例 art. 48); 3 warnings or fines in 2 years + a new violation: suspension 3-6 months; "
            "2 suspensions in 2 years + a new one: licence revoked (art. 53)",
            (Source(f"{MPL} art. 58", "✔"), Source("娱乐场所管理条例 art. 23, 30, 48, 53", "✔")),
            "未成年人禁入 in the lobby and every room, with police and culture report numbers",
        ),
        VenueRule(
            "bar",
            "酒吧",
            "bar",
            MinorRule.NEVER,
            "admitting a minor; selling alcohol to a minor",
            "接纳未成年人进入；向未成年人售酒",
            (Department.MARKET_REGULATION, Department.CULTURE_TOURISM, Department.POLICE),
            "correct by deadline, warning, confiscate gains, fine ≤ ¥50k; refusal or serious: suspension or "
            "licence revocation + ¥50k-500k (未保法 art. 123)",
            (Source(f"{MPL} art. 58, 59, 123", "✔"), Source("local lead: market regulation", "◦")),
            "未成年人禁入; no alcohol to minors",
        ),
        VenueRule(
            "internet_cafe",
            "互联网上网服务营业场所",
            "internet café",
            MinorRule.NEVER,
            "admitting a minor; failing to check and register ID",
            "接纳未成年人进入；未核对、登记上网者身份证件",
            (Department.CULTURE_TOURISM, Department.POLICE),
            "warning, fine ≤ ¥15,000; serious: suspension up to licence revocation; legal representative "
            "barred 5 years (互联网上网服务营业场所管理条例 art. 31, 33, 36)",
            (Source(f"{MPL} art. 58", "✔"), Source("互联网上网服务营业场所管理条例 (2022) art. 21, 23, 31", "✔")),
            "未成年人禁入 at the entrance",
        ),
        VenueRule(
            "arcade",
            "游艺娱乐场所",
            "arcade",
            MinorRule.DEVICES_HOLIDAYS_ONLY,
            "offering electronic game devices to a minor except on national statutory holidays",
            "除国家法定节假日外向未成年人提供电子游戏设施设备",
            (Department.CULTURE_TOURISM,),
            "as KTV (娱乐场所管理条例 art. 48(4), 53)",
            (
                Source(f"{MPL} art. 58", "✔"),
                Source("娱乐场所管理条例 art. 23", "✔"),
                Source("游戏游艺设备管理办法 art. 3", "✔"),
            ),
            "未成年人限入 (devices on statutory holidays only)",
        ),
        VenueRule(
            "hotel",
            "旅馆",
            "hotel",
            MinorRule.RECORD_GUARDIAN,
            "accommodating a minor without asking and recording guardian contact and co-occupants' relationship",
            "接待未成年人入住未询问并登记其父母或其他监护人联系方式及同住人员关系",
            (Department.POLICE, Department.MARKET_REGULATION),
            "correct + warning; refusal or serious: suspension or revocation + ¥10k-100k (未保法 art. 122)",
            (Source(f"{MPL} art. 57, 122", "✔"), Source("police 'five musts'", "~")),
            "—",
        ),
        VenueRule(
            "esports_hotel",
            "电竞酒店",
            "e-sports hotel",
            MinorRule.NOT_IN_ESPORTS_ZONE,
            "admitting a minor to the e-sports zone (all-e-sports hotel: to the hotel)",
            "接待未成年人进入电竞区域（全部为电竞房的酒店：接待未成年人入住）",
            (Department.CULTURE_TOURISM, Department.POLICE),
            "未保法 art. 123 applied",
            (Source("文旅部 + 公安部 notice, Aug 2023", "~"), Source(f"{MPL} art. 123", "~")),
            "未成年人禁入 at the hotel or e-sports zone entrance",
        ),
        VenueRule(
            "script_entertainment",
            "剧本娱乐",
            "script entertainment",
            MinorRule.HOLIDAYS_WEEKENDS_VACATIONS,
            "admitting a minor except on statutory holidays, weekends and school winter/summer vacations",
            "除法定节假日、休息日及寒暑假期外接待未成年人",
            (Department.CULTURE_TOURISM,),
            "localities apply 未保法 art. 123",
            (Source("five-department notice 2022", "~"), Source("penalty by art. 123", "◦")),
            "age labels on scripts",
        ),
    )
}


def rule_for(venue_type: str) -> VenueRule:
    try:
        return RULES[venue_type]
    except KeyError:
        raise ValueError(f"unknown venue type {venue_type!r}; known: {sorted(RULES)}") from None


def markdown_table() -> str:
    """The table as hub/rules/README.md shows it (a test keeps the two the same)."""
    rows = [
        "| venue type | minors | forbidden | enforcers (lead first) | penalty | sources |",
        "|---|---|---|---|---|---|",
    ]
    for r in RULES.values():
        rows.append(
            f"| `{r.venue_type}` {r.name_zh} | {r.minors.value} | {r.forbidden} | "
            f"{', '.join(d.value for d in r.enforcers)} | {r.penalty} | "
            f"{'; '.join(f'{s.citation} {s.certainty}' for s in r.sources)} |"
        )
    return "\n".join(rows)
