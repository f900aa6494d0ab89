#!/usr/bin/env python3
"""Builds the labelled person-alert set in tests/fixtures/watchlist/ (deterministic, seed 23).

People are drawn with names in their original scripts (Azerbaijani Latin, Russian Cyrillic,
Georgian, Arabic/Persian). The alert carries the name as the list writes it (original script,
sometimes the Russian-passport spelling); travellers carry what their document's MRZ would say
under one transliteration system: ICAO Doc 9303, BGN/PCGN, GOST 7.79-B, the Russian passport
office's 1997-2010 rules, Azerbaijani and Georgian national passports, and English habits for
Arabic names. Hard negatives: namesakes with another full birth date, a birth date decades
apart, the sister with the gendered surname and given name, relatives sharing a surname.

Writes alerts.jsonl, travellers.jsonl and pairs.jsonl ({traveller, alert, same, why}).
Run: python3 benches/watchlist_labelled.py (no dependencies); `--seed N --out DIR` draws another
set of people from the same name lists (a held-out set for benches/watchlist_quality.py
--fixtures DIR).
"""

import argparse
import json
import os
import random

RNG = random.Random(23)
OUT = os.path.join(os.path.dirname(__file__), "..", "tests", "fixtures", "watchlist")

# ---------------------------------------------------------------- Cyrillic systems
VOWELS_CYR = set("аеёиоуыэюяіїєАЕЁИОУЫЭЮЯ")
BASE = {
    "а": "A", "б": "B", "в": "V", "г": "G", "д": "D", "з": "Z", "и": "I", "к": "K", "л": "L",
    "м": "M", "н": "N", "о": "O", "п": "P", "р": "R", "с": "S", "т": "T", "у": "U", "ф": "F",
    "ч": "CH", "ш": "SH", "ь": "", "э": "E", "ы": "Y",
}
SYSTEMS = {
    # ICAO Doc 9303 (Russian passports since 2014)
    "icao": {"е": "E", "ё": "E", "ж": "ZH", "й": "I", "х": "KH", "ц": "TS", "щ": "SHCH",
             "ъ": "IE", "ю": "IU", "я": "IA"},
    # Russian passport office 1997-2010
    "mvd": {"е": "E", "ё": "E", "ж": "ZH", "й": "Y", "х": "KH", "ц": "TS", "щ": "SHCH",
            "ъ": "", "ю": "YU", "я": "YA"},
    # BGN/PCGN: YE at the start and after vowels
    "bgn": {"е": "E", "ё": "YE", "ж": "ZH", "й": "Y", "х": "KH", "ц": "TS", "щ": "SHCH",
            "ъ": "", "ю": "YU", "я": "YA"},
    # GOST 7.79-2000 system B, as MRZ characters (apostrophes and y' dropped)
    "gost": {"е": "E", "ё": "YO", "ж": "ZH", "й": "J", "х": "X", "ц": "CZ", "щ": "SHH",
             "ъ": "", "ю": "YU", "я": "YA"},
}


def cyr_to_latin(text, system):
    table = dict(BASE)
    table.update(SYSTEMS[system])
    out = []
    prev = " "
    for ch in text:
        low = ch.lower()
        if low == "е" and system == "bgn" and (prev == " " or prev.lower() in VOWELS_CYR or prev.lower() in "ьъ"):
            out.append("YE")
        elif low in table:
            out.append(table[low])
        else:
            out.append(" " if ch in " -" else ch.upper())
        prev = ch
    return "".join(out)


# ---------------------------------------------------------------- Azerbaijani
AZ_MRZ = {"ə": "A", "ş": "S", "ç": "C", "ğ": "G", "ı": "I", "ö": "O", "ü": "U", "i̇": "I", "İ": "I"}


def az_passport(text):
    return "".join(AZ_MRZ.get(c, AZ_MRZ.get(c.lower(), c.upper())) for c in text).upper()


# (Azerbaijani Latin, Russian Cyrillic as Soviet and Russian documents write it)
AZ_SURNAMES = [
    ("Məmmədov", "Мамедов"), ("Hüseynov", "Гусейнов"), ("Əliyev", "Алиев"),
    ("Abdullayev", "Абдуллаев"), ("Quliyev", "Гулиев"), ("Həsənov", "Гасанов"),
    ("İsmayılov", "Исмаилов"), ("Rzayev", "Рзаев"), ("Cəfərov", "Джафаров"),
    ("Ağayev", "Агаев"), ("Bağırov", "Багиров"), ("Qasımov", "Гасымов"),
    ("Süleymanov", "Сулейманов"), ("Hacıyev", "Гаджиев"), ("Kərimov", "Керимов"),
    ("Orucov", "Оруджев"), ("Səfərov", "Сафаров"), ("Xəlilov", "Халилов"),
    ("Şükürov", "Шукюров"), ("Vəliyev", "Велиев"), ("Əhmədov", "Ахмедов"),
    ("Zeynalov", "Зейналов"), ("Nağıyev", "Нагиев"), ("Mustafayev", "Мустафаев"),
    ("Novruzov", "Новрузов"), ("Əsgərov", "Аскеров"), ("Babayev", "Бабаев"),
]
AZ_MALE = [
    ("Elçin", "Эльчин"), ("Rəşad", "Рашад"), ("Yusif", "Юсиф"), ("Cavid", "Джавид"),
    ("Vüqar", "Вугар"), ("Tural", "Турал"), ("Orxan", "Орхан"), ("Elnur", "Эльнур"),
    ("Elmir", "Эльмир"), ("Rauf", "Рауф"), ("Şahin", "Шахин"), ("Fərid", "Фарид"),
    ("Kamran", "Камран"), ("Nicat", "Ниджат"), ("Ramil", "Рамиль"), ("Xəyal", "Хаял"),
    ("Anar", "Анар"), ("Elşən", "Эльшан"), ("Mübariz", "Мубариз"), ("İlqar", "Ильгар"),
    ("Çingiz", "Чингиз"), ("Zaur", "Заур"), ("Fuad", "Фуад"), ("Nurlan", "Нурлан"),
    ("Ramiz", "Рамиз"), ("Vasif", "Васиф"), ("Əli", "Али"), ("Həsən", "Гасан"),
]
AZ_FEMALE = [
    ("Aysel", "Айсель"), ("Günel", "Гюнель"), ("Leyla", "Лейла"), ("Nərmin", "Нармин"),
    ("Sevinc", "Севиндж"), ("Könül", "Кёнюль"), ("Aynur", "Айнур"), ("Xədicə", "Хадиджа"),
    ("Ülviyyə", "Ульвия"), ("Şəbnəm", "Шабнам"), ("Nigar", "Нигяр"), ("Lalə", "Лала"),
    ("Fidan", "Фидан"), ("Gülnar", "Гюльнар"), ("Aytən", "Айтен"), ("Səbinə", "Сабина"),
]

# ---------------------------------------------------------------- Russian
RU_SURNAMES = [
    "Миронов", "Кузнецов", "Смирнов", "Соловьёв", "Журавлёв", "Щербаков", "Хрусталёв",
    "Цветков", "Григорьев", "Яковлев", "Юдин", "Зайцев", "Фёдоров", "Ковальчук",
    "Шевченко", "Белоусов", "Воробьёв", "Жуков", "Чернышёв", "Дьяченко",
]
RU_MALE = ["Александр", "Алексей", "Юрий", "Евгений", "Сергей", "Дмитрий", "Михаил",
           "Андрей", "Никита", "Ярослав", "Вячеслав", "Илья", "Фёдор", "Григорий"]
RU_FEMALE = ["Александра", "Юлия", "Евгения", "Наталья", "Мария", "Татьяна", "Ксения",
             "Ярослава", "Анастасия", "Ольга", "Дарья", "Екатерина"]
RU_FEMALE_OF = {"Александр": "Александра", "Евгений": "Евгения", "Ярослав": "Ярослава"}


def ru_female_surname(surname):
    for end in ("ов", "ев", "ёв", "ин"):
        if surname.endswith(end):
            return surname + "а"
    return surname


def ru_patronymic(father, female):
    stem = father[:-1] + "е" if father.endswith("й") else father
    if father.endswith("ий"):
        stem = father[:-2] + "ье"
    if father.endswith("а"):
        stem = father[:-1]
        return stem + ("ична" if female else "ич")
    return stem + ("вна" if female else "вич") if stem.endswith(("е", "ье")) else stem + ("овна" if female else "ович")


# ---------------------------------------------------------------- Georgian
GEO_TO_CYR = {
    "ა": "а", "ბ": "б", "გ": "г", "დ": "д", "ე": "е", "ვ": "в", "ზ": "з", "თ": "т", "ი": "и",
    "კ": "к", "ლ": "л", "მ": "м", "ნ": "н", "ო": "о", "პ": "п", "ჟ": "ж", "რ": "р", "ს": "с",
    "ტ": "т", "უ": "у", "ფ": "п", "ქ": "к", "ღ": "г", "ყ": "к", "შ": "ш", "ჩ": "ч", "ც": "ц",
    "ძ": "дз", "წ": "ц", "ჭ": "ч", "ხ": "х", "ჯ": "дж", "ჰ": "х",
}
GEO_NATIONAL = {
    "ა": "A", "ბ": "B", "გ": "G", "დ": "D", "ე": "E", "ვ": "V", "ზ": "Z", "თ": "T", "ი": "I",
    "კ": "K", "ლ": "L", "მ": "M", "ნ": "N", "ო": "O", "პ": "P", "ჟ": "ZH", "რ": "R", "ს": "S",
    "ტ": "T", "უ": "U", "ფ": "P", "ქ": "K", "ღ": "GH", "ყ": "Q", "შ": "SH", "ჩ": "CH", "ც": "TS",
    "ძ": "DZ", "წ": "TS", "ჭ": "CH", "ხ": "KH", "ჯ": "J", "ჰ": "H",
}
GEO_SURNAMES = ["ბერიძე", "კაპანაძე", "გელაშვილი", "მაისურაძე", "ჯაფარიძე", "ხარაიშვილი",
                "ჩხეიძე", "წიკლაური", "ქავთარაძე", "ღლონტი", "ყიფიანი", "შენგელია", "ცინცაძე",
                "ჭანტურია", "ძნელაძე", "ლომიძე", "გოგოლაძე", "ტაბატაძე"]
GEO_MALE = ["გიორგი", "დავით", "ნიკოლოზ", "ლევან", "ზურაბ", "ირაკლი", "თემურ", "გოჩა", "ხვიჩა"]
GEO_FEMALE = ["თამარ", "ნინო", "ეკატერინე", "მარიამ", "ქეთევან", "ხათუნა", "ნათია", "სალომე"]


def geo_national(text):
    return "".join(GEO_NATIONAL.get(c, " " if c == " " else c) for c in text)


def geo_to_cyr(text):
    return "".join(GEO_TO_CYR.get(c, c) for c in text)


# ---------------------------------------------------------------- Arabic / Persian
# (script, Latin spellings passport offices and consulates use)
AR_GIVEN_MALE = [
    ("محمد", ["MUHAMMAD", "MOHAMMED", "MOHAMAD", "MOHAMMAD", "MOHAMED"]),
    ("أحمد", ["AHMAD", "AHMED"]),
    ("حسين", ["HUSSEIN", "HUSSAIN", "HOSSEIN", "HUSAIN"]),
    ("خالد", ["KHALID", "KHALED"]),
    ("يوسف", ["YUSUF", "YOUSSEF", "YOUSEF", "YOUSIF"]),
    ("مصطفى", ["MUSTAFA", "MOUSTAFA", "MOSTAFA"]),
    ("عمر", ["OMAR", "UMAR"]),
    ("إبراهيم", ["IBRAHIM", "EBRAHIM"]),
    ("محمود", ["MAHMOUD", "MAHMUD", "MAHMOOD"]),
    ("حسن", ["HASSAN", "HASAN"]),
    ("عبد الله", ["ABDULLAH", "ABDALLAH", "ABDULLA"]),
    ("رضا", ["REZA", "RIDA", "REDA"]),
    ("سعيد", ["SAEED", "SAID", "SAEID"]),
    ("جعفر", ["JAFAR", "JAAFAR", "DJAFAR"]),
]
AR_GIVEN_FEMALE = [
    ("فاطمة", ["FATIMA", "FATMA", "FATIMAH"]),
    ("زينب", ["ZAINAB", "ZEINAB", "ZAYNAB"]),
    ("مريم", ["MARYAM", "MARIAM"]),
    ("ليلى", ["LAYLA", "LEILA", "LAILA"]),
    ("سارة", ["SARA", "SARAH"]),
    ("نور", ["NOOR", "NOUR", "NUR"]),
]
AR_SURNAMES = [
    ("الحسيني", ["AL HUSSEINI", "ALHUSSEINI", "EL HUSSEINI", "AL HUSAYNI"]),
    ("الخطيب", ["AL KHATIB", "ALKHATIB", "EL KHATEEB"]),
    ("حداد", ["HADDAD", "HADAD"]),
    ("منصور", ["MANSOUR", "MANSUR", "MANSOOR"]),
    ("سليمان", ["SULEIMAN", "SULAIMAN", "SOLIMAN", "SULAYMAN"]),
    ("رحيمي", ["RAHIMI", "RAHEEMI"]),
    ("حسيني", ["HOSSEINI", "HUSSEINI", "HOSEINI"]),
    ("كريمي", ["KARIMI", "KAREEMI"]),
    ("موسوي", ["MOUSAVI", "MUSAVI", "MOUSSAVI"]),
    ("جعفري", ["JAFARI", "JAAFARI", "DJAFARI"]),
    ("قاسمي", ["QASEMI", "GHASEMI", "GHASSEMI"]),
    ("نوري", ["NOURI", "NURI", "NOORI"]),
    ("عبد الرحمن", ["ABDUL RAHMAN", "ABDULRAHMAN", "ABDEL RAHMAN"]),
    ("الشامي", ["AL SHAMI", "ALSHAMI", "EL CHAMI"]),
    ("عثمان", ["OTHMAN", "OSMAN", "USMAN"]),
]

NATIONALITIES = {"az": ["AZE", "RUS", "GEO", "TUR"], "ru": ["RUS", "UKR", "KAZ"],
                 "geo": ["GEO", "RUS"], "ar": ["SYR", "IRQ", "IRN", "LBN", "JOR"]}
KINDS = ["entry_ban", "wanted", "deported", "missing_person", "other"]


def birth():
    year = RNG.randint(1950, 2004)
    return year, RNG.randint(1, 12), RNG.randint(1, 28)


def iso(date):
    return f"{date[0]:04d}-{date[1]:02d}-{date[2]:02d}"


def make_person(n):
    family = RNG.choice(["az", "az", "ru", "geo", "ar"])
    female = RNG.random() < 0.35
    person = {"id": n, "family": family, "female": female, "birth": birth()}
    if family == "az":
        sur = RNG.choice(AZ_SURNAMES)
        given = RNG.choice(AZ_FEMALE if female else AZ_MALE)
        father = RNG.choice(AZ_MALE)
        person.update(sur=sur, given=given, father=father)
    elif family == "ru":
        sur = RNG.choice(RU_SURNAMES)
        given = RNG.choice(RU_FEMALE if female else RU_MALE)
        father = RNG.choice(RU_MALE)
        person.update(sur=sur, given=given, father=father)
    elif family == "geo":
        person.update(sur=RNG.choice(GEO_SURNAMES),
                      given=RNG.choice(GEO_FEMALE if female else GEO_MALE))
    else:
        person.update(sur=RNG.choice(AR_SURNAMES),
                      given=RNG.choice(AR_GIVEN_FEMALE if female else AR_GIVEN_MALE))
    person["nationality"] = NATIONALITIES[family][0]
    return person


def az_forms(person):
    """(surname, given, patronymic) in Azerbaijani Latin and Cyrillic, gendered."""
    (sur_az, sur_ru), (given_az, given_ru), (father_az, father_ru) = (
        person["sur"], person["given"], person["father"])
    if person["female"]:
        sur_az, sur_ru = sur_az + "a", sur_ru + "а"
    particle_az = "qızı" if person["female"] else "oğlu"
    particle_ru = "кызы" if person["female"] else "оглы"
    return (sur_az, given_az, f"{father_az} {particle_az}"), (sur_ru, given_ru, f"{father_ru} {particle_ru}")


def ru_forms(person):
    sur = ru_female_surname(person["sur"]) if person["female"] else person["sur"]
    return sur, person["given"], ru_patronymic(person["father"], person["female"])


def alert_name(person):
    """The name as the list writes it, in the original script."""
    fam = person["family"]
    if fam == "az":
        (sur, given, patr), (sur_ru, given_ru, patr_ru) = az_forms(person)
        if RNG.random() < 0.3:
            return {"surname": sur_ru, "given_names": f"{given_ru} {patr_ru}"}
        return {"surname": sur, "given_names": f"{given} {patr}" if RNG.random() < 0.5 else given}
    if fam == "ru":
        sur, given, patr = ru_forms(person)
        return {"surname": sur, "given_names": f"{given} {patr}" if RNG.random() < 0.5 else given}
    if fam == "geo":
        return {"surname": person["sur"], "given_names": person["given"]}
    return {"surname": person["sur"][0], "given_names": person["given"][0]}


def mrz_spellings(person):
    """[(system, surname, given names)] an MRZ could carry for this person."""
    fam = person["family"]
    out = []
    if fam == "az":
        (sur, given, patr), (sur_ru, given_ru, patr_ru) = az_forms(person)
        out.append(("aze_passport", az_passport(sur), az_passport(given)))
        out.append(("aze_passport_patronymic", az_passport(sur), az_passport(f"{given} {patr}")))
        for system in ("icao", "mvd", "bgn", "gost"):
            out.append((f"ru_{system}", cyr_to_latin(sur_ru, system), cyr_to_latin(given_ru, system)))
    elif fam == "ru":
        sur, given, patr = ru_forms(person)
        for system in ("icao", "mvd", "bgn", "gost"):
            out.append((system, cyr_to_latin(sur, system), cyr_to_latin(given, system)))
        out.append(("icao_patronymic", cyr_to_latin(sur, "icao"), cyr_to_latin(f"{given} {patr}", "icao")))
    elif fam == "geo":
        out.append(("geo_passport", geo_national(person["sur"]), geo_national(person["given"])))
        for system in ("icao", "mvd", "gost"):
            out.append((f"ru_{system}", cyr_to_latin(geo_to_cyr(person["sur"]), system),
                        cyr_to_latin(geo_to_cyr(person["given"]), system)))
    else:
        for sur in person["sur"][1]:
            out.append(("latin", sur, RNG.choice(person["given"][1])))
    return out


def cut_mrz(surname, given, width=39):
    """The TD3 name field: surname<<given, cut at the field's end."""
    field = surname.replace(" ", "<") + "<<" + given.replace(" ", "<")
    if len(field) <= width:
        return surname, given
    field = field[:width]
    sur, _, giv = field.partition("<<")
    return sur.replace("<", " ").strip(), giv.replace("<", " ").strip()


def main():
    global OUT
    parser = argparse.ArgumentParser()
    parser.add_argument("--seed", type=int, default=23)
    parser.add_argument("--out", default=OUT)
    args = parser.parse_args()
    RNG.seed(args.seed)
    OUT = args.out
    os.makedirs(OUT, exist_ok=True)
    people = [make_person(n) for n in range(260)]
    alerts, travellers, pairs = [], [], []

    def add_alert(person, name, birth_text, tag):
        alert_id = f"A{len(alerts):04d}"
        alert = {"alert_id": alert_id, "names": [name], "birth_date": birth_text,
                 "nationalities": [person["nationality"]] if RNG.random() < 0.8 else [],
                 "sex": ("F" if person["female"] else "M") if RNG.random() < 0.6 else None,
                 "kind": RNG.choice(KINDS), "source_tag": tag}
        if alert["kind"] == "entry_ban":
            alert["until"] = f"{RNG.randint(2027, 2031)}-01-01"
        alerts.append(alert)
        return alert_id

    def add_traveller(person, surname, given, birth_text, nationality, why, against):
        traveller_id = f"T{len(travellers):05d}"
        surname, given = cut_mrz(surname, given)
        travellers.append({"id": traveller_id, "surname": surname, "given_names": given,
                           "birth_date": birth_text, "nationality": nationality,
                           "sex": "F" if person["female"] else "M"})
        for alert_id, same in against:
            pairs.append({"traveller": traveller_id, "alert": alert_id, "same": same, "why": why})

    for person in people:
        b = person["birth"]
        precision = RNG.random()
        alert_birth = iso(b) if precision < 0.75 else (f"{b[0]:04d}-{b[1]:02d}" if precision < 0.85 else f"{b[0]:04d}")
        alert_id = add_alert(person, alert_name(person), alert_birth, "person")
        person["alert"] = alert_id
        for system, sur, given in mrz_spellings(person):
            trav_birth = iso(b)
            why = f"same person, {system}"
            roll = RNG.random()
            if roll < 0.06 and len(alert_birth) == 10 and b[2] <= 12 and b[1] != b[2]:
                trav_birth, why = f"{b[0]:04d}-{b[2]:02d}-{b[1]:02d}", why + ", day/month swapped"
            elif roll < 0.12 and len(alert_birth) == 4:
                trav_birth, why = f"{b[0] + RNG.choice((-1, 1)):04d}-{b[1]:02d}-{b[2]:02d}", why + ", year off by one"
            nationality = person["nationality"]
            if RNG.random() < 0.15:
                nationality, why = RNG.choice(NATIONALITIES[person["family"]][1:]), why + ", other nationality"
            if RNG.random() < 0.1:
                sur, given, why = given, sur, why + ", names swapped"
            add_traveller(person, sur, given, trav_birth, nationality, why, [(alert_id, True)])

    # Hard negatives against each person's alert.
    for person in people:
        b = person["birth"]
        system, sur, given = RNG.choice(mrz_spellings(person))
        alert_birth = next(a["birth_date"] for a in alerts if a["alert_id"] == person["alert"])
        if len(alert_birth) == 10:
            other = birth()
            while other[0] == b[0] or (other[1], other[2]) in ((b[1], b[2]), (b[2], b[1])):
                other = birth()
            other = (RNG.choice([b[0], other[0]]), other[1], other[2])
            add_traveller(person, sur, given, iso(other), person["nationality"],
                          f"namesake ({system}), another full birth date", [(person["alert"], False)])
        decades = b[0] + RNG.choice((-1, 1)) * RNG.randint(25, 45)
        add_traveller(person, sur, given, f"{decades:04d}-{b[1]:02d}-{b[2]:02d}", person["nationality"],
                      f"namesake ({system}), birth date decades apart", [(person["alert"], False)])
        # A relative: same surname, another given name of the same sex, same birth year.
        relative = dict(person)
        if person["family"] == "az":
            relative["given"] = RNG.choice([g for g in (AZ_FEMALE if person["female"] else AZ_MALE) if g != person["given"]])
        elif person["family"] == "ru":
            relative["given"] = RNG.choice([g for g in (RU_FEMALE if person["female"] else RU_MALE) if g != person["given"]])
        elif person["family"] == "geo":
            relative["given"] = RNG.choice([g for g in (GEO_FEMALE if person["female"] else GEO_MALE) if g != person["given"]])
        else:
            relative["given"] = RNG.choice([g for g in (AR_GIVEN_FEMALE if person["female"] else AR_GIVEN_MALE) if g != person["given"]])
        relative["birth"] = (b[0], RNG.randint(1, 12), RNG.randint(1, 28))
        rsys, rsur, rgiven = RNG.choice(mrz_spellings(relative))
        add_traveller(relative, rsur, rgiven, iso(relative["birth"]), person["nationality"],
                      f"relative ({rsys}): same surname, another given name", [(person["alert"], False)])
        # The other sex with the gendered forms (MIRONOV ALEKSANDR / MIRONOVA ALEKSANDRA).
        if person["family"] == "ru" and person["given"] in RU_FEMALE_OF or person["family"] == "az":
            sibling = dict(person, female=not person["female"])
            if person["family"] == "ru":
                sibling["given"] = RU_FEMALE_OF[person["given"]]
            ssys, ssur, sgiven = RNG.choice(mrz_spellings(sibling))
            add_traveller(sibling, ssur, sgiven, iso(b), person["nationality"],
                          f"twin of the other sex ({ssys}), gendered forms", [(person["alert"], False)])

    for alert in alerts:
        alert.pop("source_tag")
    with open(os.path.join(OUT, "alerts.jsonl"), "w", encoding="utf-8") as f:
        for alert in alerts:
            f.write(json.dumps(alert, ensure_ascii=False) + "\n")
    with open(os.path.join(OUT, "travellers.jsonl"), "w", encoding="utf-8") as f:
        for traveller in travellers:
            f.write(json.dumps(traveller, ensure_ascii=False) + "\n")
    with open(os.path.join(OUT, "pairs.jsonl"), "w", encoding="utf-8") as f:
        for pair in pairs:
            f.write(json.dumps(pair, ensure_ascii=False) + "\n")
    same = sum(p["same"] for p in pairs)
    print(f"{len(alerts)} alerts, {len(travellers)} travellers, {len(pairs)} pairs ({same} same person)")


if __name__ == "__main__":
    main()
