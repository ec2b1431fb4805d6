"""Name pools for the synthetic benchmark data (see GENERATOR.md).

Hand-written lists (ours) for Liberia and the West African countries that the names-dataset
wheel lacks (GN, SL, ML, CI), spelling-variant groups, and an Arabic-script table; the rest comes
from the names-dataset wheel (MIT), extracted once into data/name_pools.json because loading
the wheel's pickles takes ~16 s and ~2 GB."""

import json, os, re

# --- Liberia -------------------------------------------------------------------------------
# Christian / indigenous first names (Kpelle, Bassa, Gio, Mano, Kru, Grebo, Loma, Vai) mixed with
# the English names common in Liberia. Order = rough frequency (first is most common).
LR_MALE = """James John Joseph Emmanuel Samuel Moses Prince Patrick Morris Augustine Thomas Peter
Daniel David George Alfred Edward Joshua Francis Henry Paul Abraham Isaac Jacob Benjamin Robert
Charles William Anthony Stephen Alex Richard Lawrence Jerome Christopher Philip Solomon Timothy
Sackie Flomo Tarnue Saye Varney Momo Boima Ballah Mulbah Kollie Nyan Kpadeh Sumo Gbessay Tokpa
Kerkula Zubah Togba Tamba Saah Fayiah Gbana Zoe Blamo Dweh Kpehe Toe Wleh Siaffa Jallah Korvah
Nagbe Tweh Sieh Yarkpawolo Sayon Dahn Zayzay""".split()
LR_FEMALE = """Mary Comfort Patience Esther Martha Grace Elizabeth Sarah Ruth Rebecca Victoria Helena
Beatrice Agnes Rose Alice Janet Florence Princess Blessing Precious Josephine Christiana Dorothy
Hannah Miatta Musu Korto Kebeh Yassah Garmai Mamie Hawa Massa Famatta Oretha Satta Jebbeh
Decontee Weade Bendu Finda Yah Siah Tetee Sando Gbessie Nyenpu Youngor Lorpu Wokie Yamah Jartu
Annie Ma-Hawa Nowai Klubo Tenneh Watta""".split()
LR_SURNAME = """Kollie Flomo Kpoto Pewee Sumo Gbeh Tarr Doe Johnson Dolo Zayzay Toe Weah Williams
Davis Cooper Dennis Cole Walker Freeman Taylor Tubman Tolbert Barclay Wilson Brown Smith Jackson
Harris Roberts Nagbe Wesseh Tweh Nyemah Sieh Wleh Blamo Dweh Karpeh Jlateh Mulbah Karnga Tokpa
Kerkula Gbarbea Nyumah Yarkpawolo Saah Tamba Fayiah Kpadeh Wolo Gaye Jallah Boakai Dorbor Zinnah
Sackor Kolubah Akoi Beyan Gbatu Dahn Suah Zuo Gonpue Mehn Saye Sirleaf Gbowee Massaquoi Kiazolu
Passawe Sonii Fahnbulleh Korvah Togba Zubah Gbana Paye Seh Quiah Gono Flahn Tarpeh Dahngbae Gweh
Kpehe Yeaney Mensah Payne Morris Gray Sherman Parker Kamah Sayeh Kolleh Nimely Toby Wright Zeon""".split()
# Mandingo / Vai Muslim names (Liberia)
LRM_MALE = """Mohammed Mamadee Ibrahim Sekou Lansana Musa Ansu Fodee Kemoh Alieu Abdoulaye Momo
Varney Sidiki Jusu Alhaji Mustapha Abu Siafa Fomba Kabba Ousmane Amara Kanda Bakary Lamine Dauda
Aruna Sheku Mohamed Brima Foday Moussa Haruna""".split()
LRM_FEMALE = """Fatu Mariama Hawa Kadiatu Aminata Massa Fatoumata Jeneba Mawatta Zainab Saran Kumba
Bintu Musu Haja Fanta Isatu Kadija Mahawa Rugie Hawanatu Jenneh""".split()
LRM_SURNAME = """Kamara Sherif Konneh Kromah Dukuly Donzo Fofana Kanneh Keita Sheriff Toure Jabateh
Diakite Massaquoi Fahnbulleh Kiazolu Sware Bility Kaba Dabo Kiawu Swaray Jalloh Bah Sesay Conneh
Kanteh Sanoe Fofanah Koneh Sumaworo Kanneh-Mason""".split()

# --- Guinea, Sierra Leone, Mali, Cote d'Ivoire (not in names-dataset) ---------------------------
WA_MALE = """Mamadou Ibrahima Alpha Oumar Abdoulaye Ousmane Amadou Boubacar Sekou Moussa Lamine
Mohamed Alhassan Thierno Souleymane Sory Mory Issiaka Karim Adama Yaya Seydou Drissa Bakary Lassana
Fode Aboubacar Modibo Cheick Siaka Brima Foday Alusine Abu Sahr Tamba Unisa Osman Kabba""".split()
WA_FEMALE = """Fatoumata Aminata Mariama Kadiatou Hawa Aissatou Mariam Oumou Fanta Djenabou Kadidiatou
Binta Awa Rokia Assitan Salimata Adja Nafissatou Isatu Kadiatu Mabinty Adama Fatmata Zainab
Haja Marie Kumba""".split()
WA_SURNAME = """Diallo Bah Barry Sow Camara Conde Conteh Sesay Bangura Kamara Koroma Turay Jalloh
Kanu Kargbo Fofanah Mansaray Sankoh Traore Coulibaly Keita Toure Cisse Diarra Sylla Kone Bamba
Ouattara Kouame Soumah Sidibe Doumbouya Sangare Dembele Konate Samake Kante Fofana Bangoura
Sacko Kourouma Yansane Dumbuya Kallon Kabia Tarawally Sillah Jabbie""".split()
WA_NAT = ["GIN", "SLE", "MLI", "CIV"]

# names-dataset countries (alpha-2 → nationality alpha-3)
ND_WEST_AFRICA = {"NG": "NGA", "GH": "GHA", "BF": "BFA", "CM": "CMR"}
# (SA, AE: left out, their top lists are mostly South Asian residents; LY, YE: few Latin names)
ND_ARABIC = {"EG": "EGY", "MA": "MAR", "DZ": "DZA", "TN": "TUN", "SD": "SDN", "IQ": "IRQ", "SY": "SYR",
             "JO": "JOR", "LB": "LBN"}
ND_OTHER = {"ET": "ETH", "AF": "AFG"}

# --- spelling variants of one name (transliteration, French/English, Arabic romanisation) -------
# Ours: the first spelling of a group is taken as the most frequent.
VARIANT_GROUPS = [
    "Mohammed Muhammad Mohamed Mohammad Muhammed Mohamad Mamadee Mamadi Mamady Mamadou Mouhamed Momodu",
    "Ahmed Ahmad Ahmet Amadou Hamed", "Ali Aly Alie", "Omar Umar Oumar Umaru Omer",
    "Ousmane Usman Osman Uthman Othman Ousman Usmane", "Ibrahim Ibrahima Brahim Ebrahim Ibrahem Brima",
    "Abdoulaye Abdullahi Abdullah Abdallah Abdulai Abdoulie", "Aboubakar Abubakar Boubacar Abubakarr Aboubacar Bakary",
    "Moussa Musa Mousa Muusa", "Youssef Yusuf Yousef Youssouf Yusif Yousuf", "Idris Idriss Driss Idrissa",
    "Mustafa Mostafa Moustapha Mustapha Mustafah", "Hussein Hussain Husain Houssein Husayn",
    "Hassan Hasan Hassane Alhassan", "Mahmoud Mahmud Mahmood Mahamoud", "Khaled Khalid Khaleed",
    "Said Saeed Sayed Saïd Sayid", "Saleh Salih", "Yasser Yasir Yaser",
    "Osama Usama Oussama", "Sulaiman Suleiman Souleymane Sulayman Soliman Suleman",
    "Ismail Ismael Smail Ismaila Ismaïla", "Abdelrahman Abdulrahman Abderrahmane Abdurrahman Abdul_Rahman",
    "Abdelkader Abdulqadir Abdelkadir Abdul_Kadir", "Yaya Yahya Yahia Yahaya",
    "Lansana Lassana Lancinet Lansine", "Sekou Seku Sheku Sékou", "Lamine Alamine Lamin",
    "Alieu Aliou Alioune Aliyu", "Fodee Fode Foday Fodé",
    "Fatoumata Fatu Fatuma Fatimata Fatima Fatmata Fatou Fatima-Zahra", "Aminata Aminatou Amina Minata Aminah",
    "Mariama Mariam Maryam Mariatu Mariame", "Kadiatou Khadija Kadijatu Kadiatu Khadidja Kadija",
    "Aissatou Aisha Aicha Aishatu Ayesha Aïcha", "Zainab Zeinab Zaynab Zenab", "Hawa Hawah Hauwa Awa",
    "Kollie Kolie Kolleh Kolly", "Flomo Folomo Flumo", "Konneh Kone Koné Koneh Conneh",
    "Sherif Sheriff Cherif Sharif Chérif", "Kamara Camara Kamarah", "Diallo Jallow Jalloh Djallo",
    "Ouedraogo Wedraogo Ouédraogo", "Toure Touré Turay Toureh", "Traore Traoré Tarawally Trawally",
    "Fofana Fofanah Fofona", "Kromah Kroma", "Dukuly Dukule Dukulay Doukoure",
    "Sumo Sumoh Soumo", "Tarr Tar Tarh", "Zayzay Zaizay Zayzaye", "Pewee Peewee Pewe",
    "Gbeh Gbe Gbey", "Kpoto Kpotto Poto", "Keita Keyta Kéita Kieta", "Sesay Sessay Sissay",
    "Bangura Bangoura", "Cisse Cissé Sisse", "Mensah Mensa", "Sow Sowe", "Bah Ba Baa",
    "Barry Bari Barrie", "Conteh Konteh Conte Conté", "Jabateh Jabbateh Diabate Diabaté",
    "Massaquoi Massaquay Massaquio", "Fahnbulleh Fahnbolleh Fanbulleh",
]

# Arabic-script forms (ours) of some Latin names; used for a small share of records/queries.
ARABIC_SCRIPT = {
    "Mohammed": "محمد", "Ahmed": "أحمد", "Ali": "علي", "Omar": "عمر", "Ousmane": "عثمان",
    "Ibrahim": "إبراهيم", "Abdoulaye": "عبدالله", "Aboubakar": "أبوبكر", "Moussa": "موسى",
    "Youssef": "يوسف", "Idris": "إدريس", "Mustafa": "مصطفى", "Hussein": "حسين", "Hassan": "حسن",
    "Mahmoud": "محمود", "Khaled": "خالد", "Said": "سعيد", "Salah": "صلاح", "Yasser": "ياسر",
    "Osama": "أسامة", "Sulaiman": "سليمان", "Ismail": "إسماعيل", "Abdelrahman": "عبدالرحمن",
    "Abdelkader": "عبدالقادر", "Yaya": "يحيى", "Fatoumata": "فاطمة", "Aminata": "أمينة",
    "Mariama": "مريم", "Kadiatou": "خديجة", "Aissatou": "عائشة", "Zainab": "زينب", "Hawa": "حواء",
    "Sherif": "الشريف", "Karim": "كريم", "Tarek": "طارق", "Nasser": "ناصر", "Jamal": "جمال",
    "Amr": "عمرو", "Walid": "وليد", "Hamza": "حمزة", "Bilal": "بلال", "Adel": "عادل",
    "Samir": "سمير", "Rashid": "راشد", "Nour": "نور", "Layla": "ليلى", "Salma": "سلمى",
    "Haddad": "حداد", "Mansour": "منصور", "Saleh": "صالح", "Hamdan": "حمدان", "Nasr": "نصر",
    "Othman": "عثمان", "Abbas": "عباس", "Jaber": "جابر", "Qasim": "قاسم", "Aziz": "عزيز",
}

# Particles that come and go in Arabic / Maghreb / Sahel names.
PARTICLES = ["ben", "bin", "ould", "al", "el", "abu", "ibn"]
PARTICLES_AR = ["بن", "ابن", "ولد", "أبو"]

# Arabic script back to the Latin spelling the table was written with.
_LATIN_OF = {}
for _k, _v in ARABIC_SCRIPT.items():
    _LATIN_OF.setdefault(_v, _k)

_GROUP_OF = {}
for _g in VARIANT_GROUPS:
    # a multi-word spelling is written with "_" ("Abdul_Rahman")
    _spellings = [s.replace("_", " ") for s in _g.split()]
    for _s in _spellings:
        _GROUP_OF.setdefault(_s, _spellings)
for _g in list(_GROUP_OF.values()):
    if _g[0] in ARABIC_SCRIPT:
        for _s in _g:
            ARABIC_SCRIPT.setdefault(_s, ARABIC_SCRIPT[_g[0]])


def variants(name):
    """Spellings of the same name (the name itself included), or [name]."""
    return _GROUP_OF.get(name, [name])


def arabic(name):
    return ARABIC_SCRIPT.get(name)


def latin(name):
    return _LATIN_OF.get(name)


# --- names-dataset extraction ----------------------------------------------------------------
_LATIN = re.compile(r"^[A-Z][a-z'\-]+$")
_ARABIC = re.compile(r"^[\u0600-\u06FF]+$")
# Facebook-profile noise in the wheel's top lists (titles, abbreviations, non-names)
# (titles, particles, towns, football clubs, nicknames), seen by reading the lists.
_JUNK = set("""Md Sk Mr Mrs Miss Dr Engr Ana Om Abu Abo Abou Abd Al El Ben Bin Ould Umm Oum Ibn Baby Queen
King Lord Official Love Sweet Junior Jnr Bra Itz Madrid Mca Tlm Oran Mosta Med Milano Lacoste Usma Mimi
Anoucha Ess Mimo Alger Annaba Solo Bou Minoucha Dadi Bob Fifi Chinwi Barca Mkalcha Setif Sam Csc Zizou Bel
Kabyle Rajawi Kech Wac Ell Fleur Widadi Mks Tanjawi Agadir Tanger Maroc Fes Male Ddg None Casa Est Amouna
Tahfouna Maryouma Dadou Amoula Libya Meme Qween Bella Ail Soma Cool Flower Toto Medo Mido Kura Gyan Aliraqi
Taqana Hawlery Koye Zaxo Tanya Syr Homs Sham Alsham Lolo Lattakia Alroh Hasn Abood Akter Aktar Jordan
Yemen Zool Wiz Wad Max Dado Toni Simo Moh Mhmd Ahmd Kurdi Duhoki Xan Gull
ابو أبو ود ام انا ابن بن بالله الشام العراقي البصراوي""".split())


def _keep(name, arabic_ok):
    if name in _JUNK:
        return False
    if _LATIN.match(name) and len(name) >= 3:
        return True
    return arabic_ok and bool(_ARABIC.match(name)) and len(name) >= 2


def extract_pools(path, top_first=250, top_last=400):
    """Top names per country from names-dataset, cached as JSON (the wheel is slow to load)."""
    if os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    from names_dataset import NameDataset  # ~16 s, ~2 GB: only on the first run
    nd = NameDataset()
    pools = {}
    for cc in {**ND_WEST_AFRICA, **ND_ARABIC, **ND_OTHER}:
        arabic_ok = cc in ND_ARABIC
        first = nd.get_top_names(n=top_first, country_alpha2=cc)[cc]
        last = nd.get_top_names(n=top_last, country_alpha2=cc, use_first_names=False)[cc]
        pools[cc] = {"M": [n for n in first.get("M", []) if _keep(n, arabic_ok)],
                     "F": [n for n in first.get("F", []) if _keep(n, arabic_ok)],
                     "L": [n for n in last if _keep(n, arabic_ok)]}
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        json.dump(pools, f, ensure_ascii=False, indent=0, sort_keys=True)
    return pools
