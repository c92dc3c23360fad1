"""Synthetic voice-assistant command grammar for the fairstream demo corpus.

The grammar produces English requests to a voice assistant across a dozen domains
(timers, music, weather, calls, shopping, smart home, ...).  It is used to write the
transcripts of a synthetic speech corpus, so every output is already in the corpus text
format: lowercase ASCII words, apostrophes only inside words, single spaces, numbers
spelled out in words.

Templates are plain strings with a tiny markup:

* ``{name}``    expand the slot ``name`` (a tuple of templates in :data:`SLOTS`),
* ``[a|b]``     optional part, kept with probability :data:`OPTIONAL_P`, one alternative,
* ``(a|b)``     required choice between alternatives.

Word lists are tuples of templates too (most without markup), so a single mechanism
expands everything and :func:`vocabulary` can enumerate every producible word by walking
the templates instead of sampling.  A sentence is one domain template, sometimes joined
to a second one of the same domain with "and", with an occasional discourse prefix ("okay
so") or politeness suffix ("thanks").  All randomness comes from the ``random.Random``
instance passed in, so a seed fully determines the sentences in any process.
"""

from __future__ import annotations

import functools
import random
import re
import unicodedata

__all__ = [
    "DOMAIN_NAMES",
    "DOMAINS",
    "SLOTS",
    "generate",
    "generate_with_domain",
    "normalize_text",
    "number_to_words",
    "ordinal_to_words",
    "vocabulary",
    "year_to_words",
]

OPTIONAL_P = 0.5  # probability of keeping an optional ``[...]`` part
PREFIX_P = 0.2  # probability of a leading discourse phrase ("hey", "okay so", ...)
SUFFIX_P = 0.15  # probability of a trailing politeness phrase ("please", "thanks", ...)
COMPOUND_P = 0.2  # probability of joining two requests of one domain with "and"
MAX_TRIES = 10_000


def _items(text: str) -> tuple[str, ...]:
    """Comma/newline separated phrases -> tuple, first occurrence order, no duplicates."""
    parts = (p.strip() for p in text.replace("\n", ",").split(","))
    return tuple(dict.fromkeys(p for p in parts if p))


def _lines(text: str) -> tuple[str, ...]:
    """One template per non-blank line -> tuple."""
    return tuple(line.strip() for line in text.splitlines() if line.strip())


# --------------------------------------------------------------------------- numbers

_ONES = _items("""
zero, one, two, three, four, five, six, seven, eight, nine, ten, eleven, twelve, thirteen,
fourteen, fifteen, sixteen, seventeen, eighteen, nineteen""")
_TENS = ("", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety")
_ORDINAL_IRREGULAR = {"one": "first", "two": "second", "three": "third", "five": "fifth",
                      "eight": "eighth", "nine": "ninth", "twelve": "twelfth"}


def _below_100(n: int) -> str:
    if n < 20:
        return _ONES[n]
    tens, ones = divmod(n, 10)
    return _TENS[tens] + (f" {_ONES[ones]}" if ones else "")


def number_to_words(n: int) -> str:
    """Spell out 0..9999 in British style: 112 -> "one hundred and twelve"."""
    if not isinstance(n, int) or isinstance(n, bool) or not 0 <= n <= 9999:
        raise ValueError(f"number_to_words supports integers 0..9999, got {n!r}")
    if n < 100:
        return _below_100(n)
    thousands, rest = divmod(n, 1000)
    hundreds, rest = divmod(rest, 100)
    parts = [f"{_ONES[thousands]} thousand"] if thousands else []
    if hundreds:
        parts.append(f"{_ONES[hundreds]} hundred")
    if rest:
        parts.append(f"and {_below_100(rest)}")
    return " ".join(parts)


def ordinal_to_words(n: int) -> str:
    """1 -> "first", 23 -> "twenty third", 100 -> "one hundredth"."""
    if n < 1:
        raise ValueError(f"ordinals start at 1, got {n!r}")
    *head, last = number_to_words(n).split()
    if last in _ORDINAL_IRREGULAR:
        last = _ORDINAL_IRREGULAR[last]
    elif last.endswith("y"):
        last = last[:-1] + "ieth"
    else:
        last += "th"
    return " ".join([*head, last])


def year_to_words(year: int) -> str:
    """Read a year the way people say it: 1984 -> "nineteen eighty four"."""
    if 2000 <= year <= 2009 or not 1100 <= year <= 2099:
        return number_to_words(year)
    century, rest = divmod(year, 100)
    if rest == 0:
        return f"{_below_100(century)} hundred"
    tail = f"oh {_ONES[rest]}" if rest < 10 else _below_100(rest)
    return f"{_below_100(century)} {tail}"


def _spell_digits(digits: str) -> str:
    return " ".join(_ONES[int(d)] for d in digits)


# ------------------------------------------------------------------ normalisation

_NON_WORD_RE = re.compile(r"[^a-z']+")
_DIGITS_RE = re.compile(r"\d+")


def _digits_to_words(match: re.Match[str]) -> str:
    digits = match.group()
    if len(digits) > 4 or (len(digits) > 1 and digits[0] == "0"):
        return f" {_spell_digits(digits)} "
    return f" {number_to_words(int(digits))} "


def normalize_text(s: str) -> str:
    """Corpus text format: lowercase a-z words, inner apostrophes, single spaces.

    Accents are stripped, digits are spelled out, every other character is a word break
    and apostrophes at the edge of a word are dropped.
    """
    s = s.replace("\u2019", "'").replace("\u2018", "'")
    s = unicodedata.normalize("NFKD", s).encode("ascii", "ignore").decode("ascii").lower()
    s = _NON_WORD_RE.sub(" ", _DIGITS_RE.sub(_digits_to_words, s))
    words = (re.sub("'+", "'", w).strip("'") for w in s.split())
    return " ".join(w for w in words if w)


# ---------------------------------------------------------------------- word lists

WEEKDAYS = _items("monday, tuesday, wednesday, thursday, friday, saturday, sunday")
MONTHS = _items("""
january, february, march, april, may, june, july, august, september, october, november,
december""")

CITIES = _items("""
london, paris, berlin, madrid, rome, lisbon, dublin, edinburgh, glasgow, manchester,
liverpool, birmingham, leeds, bristol, cardiff, belfast, oxford, cambridge, brighton, york,
newcastle, sheffield, nottingham, leicester, southampton, plymouth, aberdeen, dundee,
inverness, norwich, bath, exeter, swansea, stirling, reading, coventry, derby, preston,
blackpool, canterbury, salisbury, chester, durham, lancaster, windsor, cheltenham, ipswich,
hull, sunderland, bournemouth, cork, galway, limerick, amsterdam, rotterdam, the hague,
brussels, antwerp, bruges, luxembourg, geneva, zurich, bern, vienna, salzburg, prague,
budapest, warsaw, krakow, munich, hamburg, frankfurt, cologne, stuttgart, dresden,
leipzig, hanover, copenhagen, stockholm, oslo, helsinki, bergen, gothenburg, reykjavik,
athens, istanbul, ankara, milan, venice, florence, naples, turin, bologna, verona,
barcelona, seville, valencia, malaga, granada, bilbao, porto, marseille, lyon, nice,
bordeaux, toulouse, nantes, monaco, moscow, kyiv, riga, vilnius, tallinn, bucharest,
sofia, belgrade, zagreb, split, dubrovnik, new york, los angeles, chicago, houston,
phoenix, philadelphia, san antonio, san diego, dallas, austin, boston, seattle, denver,
miami, atlanta, detroit, portland, nashville, memphis, new orleans, las vegas,
salt lake city, san francisco, oakland, sacramento, minneapolis, saint louis,
kansas city, pittsburgh, cleveland, cincinnati, columbus, indianapolis, milwaukee,
baltimore, washington, charlotte, raleigh, orlando, tampa, jacksonville, honolulu,
anchorage, albuquerque, tucson, omaha, boise, buffalo, richmond, hartford, providence,
tulsa, dayton, spokane, tacoma, fresno, el paso, fort worth, savannah, charleston,
louisville, lexington, madison, des moines, little rock, santa fe, santa barbara,
san jose, long beach, toronto, montreal, vancouver, calgary, ottawa, edmonton, winnipeg,
quebec city, halifax, victoria, mexico city, guadalajara, monterrey, cancun, havana,
kingston, panama city, san juan, rio de janeiro, sao paulo, buenos aires, santiago, lima,
bogota, quito, caracas, montevideo, la paz, brasilia, medellin, cusco, cairo, lagos,
nairobi, cape town, johannesburg, durban, casablanca, marrakesh, tunis, accra,
addis ababa, dakar, kampala, kigali, lusaka, harare, algiers, zanzibar, mombasa, tokyo,
osaka, kyoto, seoul, busan, beijing, shanghai, hong kong, shenzhen, taipei, singapore,
bangkok, manila, jakarta, kuala lumpur, hanoi, delhi, new delhi, mumbai, bangalore,
chennai, kolkata, karachi, lahore, dhaka, kathmandu, colombo, dubai, abu dhabi, doha,
riyadh, tehran, jerusalem, tel aviv, amman, beirut, sydney, melbourne, brisbane, perth,
adelaide, canberra, hobart, darwin, auckland, wellington, christchurch, queenstown""")

COUNTRIES = _items("""
france, germany, spain, italy, portugal, ireland, scotland, wales, england,
the united kingdom, the united states, canada, mexico, brazil, argentina, chile, peru,
colombia, venezuela, ecuador, bolivia, uruguay, paraguay, cuba, jamaica, haiti,
the bahamas, panama, costa rica, guatemala, honduras, nicaragua, iceland, norway,
sweden, finland, denmark, the netherlands, belgium, luxembourg, switzerland, austria,
poland, the czech republic, slovakia, hungary, romania, bulgaria, greece, turkey, cyprus,
malta, croatia, serbia, slovenia, albania, montenegro, ukraine, russia, estonia, latvia,
lithuania, georgia, armenia, kazakhstan, egypt, libya, tunisia, algeria, morocco, nigeria,
ghana, senegal, mali, sudan, ethiopia, kenya, uganda, tanzania, rwanda, somalia, angola,
zambia, zimbabwe, mozambique, namibia, botswana, south africa, madagascar, cameroon,
saudi arabia, the united arab emirates, qatar, kuwait, oman, yemen, iran, iraq, syria,
jordan, lebanon, israel, afghanistan, pakistan, india, nepal, bhutan, bangladesh,
sri lanka, the maldives, china, japan, south korea, north korea, mongolia, taiwan,
vietnam, laos, cambodia, thailand, myanmar, malaysia, indonesia, the philippines,
australia, new zealand, fiji, papua new guinea, samoa, tonga""")

FIRST_NAMES = _items("""
james, john, robert, michael, william, david, richard, joseph, thomas, charles,
christopher, daniel, matthew, anthony, mark, donald, steven, paul, andrew, joshua, kenneth,
kevin, brian, george, timothy, ronald, edward, jason, jeffrey, ryan, jacob, gary, nicholas,
eric, jonathan, stephen, larry, justin, scott, brandon, benjamin, samuel, gregory,
alexander, frank, patrick, raymond, jack, dennis, jerry, tyler, aaron, jose, adam, nathan,
henry, douglas, zachary, peter, kyle, ethan, walter, noah, jeremy, christian, keith, roger,
terry, gerald, harold, sean, austin, carl, arthur, lawrence, dylan, jesse, jordan, bryan,
billy, joe, bruce, gabriel, logan, albert, alan, juan, wayne, elijah, randy, roy, vincent,
ralph, eugene, russell, bobby, mason, philip, louis, oliver, harry, leo, oscar, charlie,
freddie, alfie, archie, theo, max, lucas, finn, hugo, felix, isaac, toby, owen, luke,
liam, callum, rory, ben, sam, tom, dan, nick, mike, chris, alex, mary, patricia, jennifer,
linda, elizabeth, barbara, susan, jessica, sarah, karen, lisa, nancy, betty, margaret,
sandra, ashley, kimberly, emily, donna, michelle, carol, amanda, dorothy, melissa,
deborah, stephanie, rebecca, sharon, laura, cynthia, kathleen, amy, angela, shirley, anna,
brenda, pamela, emma, nicole, helen, samantha, katherine, christine, rachel, carolyn,
janet, catherine, maria, heather, diane, ruth, julie, olivia, joyce, virginia, victoria,
kelly, lauren, christina, joan, evelyn, judith, megan, andrea, cheryl, hannah,
jacqueline, martha, gloria, teresa, ann, sara, madison, frances, kathryn, janice, jean,
abigail, alice, judy, sophia, grace, denise, amber, doris, marilyn, danielle, beverly,
isabella, theresa, diana, natalie, brittany, charlotte, marie, kayla, alexis, lori,
amelia, isla, ava, mia, ella, lily, chloe, poppy, freya, ruby, daisy, evie, florence,
rosie, sophie, lucy, holly, zoe, jasmine, ellie, molly, millie, maya, eva, leah, jade,
kate, beth, jenny, tina, nina, rose, clara, iris, hazel, violet, ivy, stella, luna, nora,
ada, priya, raj, omar, fatima, aisha, ali, yusuf, chen, wei, kenji, yuki, carlos, sofia,
diego, pablo, marco, luca, giulia, elena, ivan, olga, anya, kofi, amara, zara, leila,
tariq, sanjay, anil, ravi, meera""")

SURNAMES = _items("""
smith, johnson, williams, brown, jones, garcia, miller, davis, rodriguez, martinez,
hernandez, lopez, gonzalez, wilson, anderson, thomas, taylor, moore, jackson, martin, lee,
perez, thompson, white, harris, sanchez, clark, ramirez, lewis, robinson, walker, young,
allen, king, wright, scott, torres, nguyen, hill, flores, green, adams, nelson, baker,
hall, rivera, campbell, mitchell, carter, roberts, gomez, phillips, evans, turner, diaz,
parker, cruz, edwards, collins, reyes, stewart, morris, morales, murphy, cook, rogers,
gutierrez, ortiz, morgan, cooper, peterson, bailey, reed, kelly, howard, ramos, kim, cox,
ward, richardson, watson, brooks, chavez, wood, james, bennett, gray, mendoza, ruiz,
hughes, price, alvarez, castillo, sanders, patel, myers, long, ross, foster, jimenez,
powell, jenkins, perry, russell, sullivan, bell, coleman, butler, henderson, barnes,
fisher, vasquez, simmons, romero, jordan, patterson, alexander, hamilton, graham,
reynolds, griffin, wallace, moreno, west, cole, hayes, bryant, herrera, gibson, ellis,
tran, medina, aguilar, stevens, murray, ford, castro, marshall, owens, harrison,
fernandez, mcdonald, woods, kennedy, wells, vargas, henry, freeman, webb, tucker, guzman,
burns, crawford, olson, simpson, porter, hunter, gordon, mendez, silva, shaw, snyder,
mason, dixon, hunt, hicks, holmes, palmer, wagner, black, robertson, boyd, rose, stone,
salazar, fox, warren, mills, meyer, rice, schmidt, garza, daniels, ferguson, nichols,
stephens, soto, weaver, ryan, gardner, payne, grant, dunn, spencer, hawkins, arnold,
pierce, hansen, peters, santos, hart, bradley, knight, elliott, cunningham, duncan,
armstrong, hudson, carroll, lane, riley, andrews, ray, delgado, berry, perkins, hoffman,
johnston, matthews, richards, willis, carpenter, lawrence, o'brien, o'connor, o'neill,
fitzgerald, walsh, byrne, doyle, lynch, quinn, brennan, mccarthy, gallagher, davies,
lloyd, pritchard, singh, kumar, shah, khan, ahmed, hussain, wang, li, zhang, liu,
yamamoto, tanaka, sato, suzuki, park, choi, novak, kowalski, muller, schneider, fischer,
weber, becker, rossi, russo, bianchi, ferrari, dubois, moreau, laurent, lambert, jensen,
larsen, nielsen, berg""")

RELATIONS = _items("""
mum, mom, dad, grandma, grandad, grandpa, nan, my sister, my brother, my wife,
my husband, my partner, my boss, my doctor, my dentist, my landlord, my neighbour,
my aunt, my uncle, my cousin, my son, my daughter, my best friend, the office, home""")

GROCERIES = _items("""
apples, bananas, oranges, lemons, limes, grapes, strawberries, blueberries, raspberries,
blackberries, cherries, peaches, pears, plums, apricots, mangoes, pineapple, watermelon,
melon, kiwis, avocados, grapefruit, coconut, figs, dates, raisins, cranberries,
pomegranate, tangerines, nectarines, potatoes, sweet potatoes, carrots, onions,
red onions, garlic, ginger, tomatoes, cherry tomatoes, cucumber, lettuce, spinach, kale,
cabbage, broccoli, cauliflower, celery, peppers, red peppers, green beans, peas,
sweetcorn, mushrooms, courgettes, zucchini, aubergine, eggplant, asparagus, leeks,
spring onions, beetroot, radishes, parsnips, turnips, pumpkin, butternut squash,
brussels sprouts, rocket, basil, parsley, coriander, cilantro, mint, rosemary, thyme,
chives, dill, milk, oat milk, almond milk, soy milk, butter, cheese, cheddar, mozzarella,
parmesan, feta, cream cheese, cottage cheese, yogurt, greek yogurt, double cream,
sour cream, whipped cream, eggs, ice cream, custard, bread, brown bread, white bread,
sourdough, bagels, croissants, muffins, tortillas, pitta bread, bread rolls, crumpets,
waffles, cookies, biscuits, crackers, doughnuts, chicken, chicken breasts,
chicken thighs, beef, minced beef, ground beef, steak, pork chops, bacon, sausages, ham,
turkey, lamb, salami, chorizo, salmon, tuna, cod, prawns, shrimp, sardines, mackerel,
smoked salmon, fish fingers, tofu, veggie burgers, rice, brown rice, pasta, spaghetti,
penne, noodles, couscous, quinoa, oats, porridge oats, cereal, granola, flour,
plain flour, self raising flour, sugar, brown sugar, icing sugar, honey, maple syrup, jam,
peanut butter, marmalade, salt, black pepper, olive oil, vegetable oil, sunflower oil,
vinegar, balsamic vinegar, soy sauce, ketchup, mayonnaise, mustard, barbecue sauce,
hot sauce, pesto, tomato sauce, tomato puree, chopped tomatoes, baked beans,
kidney beans, chickpeas, lentils, black beans, coconut milk, stock cubes, chicken stock,
gravy granules, curry paste, curry powder, paprika, cumin, cinnamon, nutmeg, oregano,
chilli flakes, vanilla extract, baking powder, baking soda, yeast, cocoa powder,
chocolate, dark chocolate, crisps, chips, popcorn, pretzels, nuts, almonds, walnuts,
cashews, peanuts, sunflower seeds, dried apricots, coffee, ground coffee,
instant coffee, coffee beans, tea, tea bags, green tea, hot chocolate, orange juice,
apple juice, lemonade, sparkling water, mineral water, cola, beer, red wine, white wine,
cider, frozen peas, frozen berries, frozen pizza, ice cubes, oven chips, toilet paper,
toilet roll, kitchen roll, paper towels, tissues, dish soap, washing up liquid,
dishwasher tablets, laundry detergent, washing powder, fabric softener, bleach, sponges,
bin bags, rubbish bags, trash bags, tin foil, cling film, baking paper, sandwich bags,
light bulbs, batteries, matches, candles, toothpaste, toothbrushes, dental floss,
mouthwash, shampoo, conditioner, shower gel, hand soap, soap, deodorant, razors,
shaving foam, sun cream, sunscreen, moisturiser, lip balm, cotton buds, plasters,
paracetamol, ibuprofen, vitamins, nappies, diapers, baby wipes, cat food, dog food,
cat litter, dog treats, bird seed""")

ARTISTS = _items("""
the beatles, the rolling stones, queen, abba, elvis presley, michael jackson, madonna,
prince, david bowie, elton john, bob dylan, bob marley, frank sinatra, johnny cash,
dolly parton, whitney houston, stevie wonder, aretha franklin, marvin gaye, ray charles,
louis armstrong, ella fitzgerald, miles davis, john coltrane, nina simone, billie holiday,
fleetwood mac, pink floyd, led zeppelin, the who, the kinks, the police, coldplay,
radiohead, oasis, blur, the smiths, the cure, arctic monkeys, muse, adele, ed sheeran,
taylor swift, beyonce, rihanna, lady gaga, katy perry, bruno mars, ariana grande,
billie eilish, dua lipa, harry styles, lizzo, shakira, drake, kanye west, eminem,
kendrick lamar, snoop dogg, the weeknd, post malone, justin bieber, miley cyrus,
sam smith, lewis capaldi, olivia rodrigo, sabrina carpenter, norah jones, amy winehouse,
john legend, alicia keys, usher, pharrell williams, daft punk, the chemical brothers,
calvin harris, avicii, david guetta, kylie minogue, robbie williams, the spice girls,
take that, one direction, the killers, green day, foo fighters, nirvana, pearl jam,
metallica, iron maiden, bon jovi, bruce springsteen, tom petty, neil young,
joni mitchell, simon and garfunkel, the eagles, the beach boys, the doors, jimi hendrix,
eric clapton, carlos santana, willie nelson, garth brooks, shania twain,
kacey musgraves, chris stapleton, luke combs, bach, mozart, beethoven, chopin, vivaldi,
tchaikovsky, debussy, handel, haydn, brahms, schubert, elgar,
the london symphony orchestra, yo yo ma, andrea bocelli, luciano pavarotti,
hans zimmer, john williams, ennio morricone, ludovico einaudi""")

SONG_WORDS = _items("""
golden, silver, midnight, summer, winter, electric, wild, broken, burning, endless,
lonely, secret, sweet, blue, crimson, neon, velvet, northern, southern, little, hollow,
quiet, dancing, shining, falling, rolling, frozen, painted, restless, fading, paper,
glass, starlight, morning, evening, forever, open, hidden, distant, gentle, wicked,
lucky, perfect, simple, brave, cosmic, tender, faded, stolen, borrowed""")
SONG_NOUNS = _items("""
river, highway, heart, dreams, city, lights, rain, fire, ocean, moon, sky, road, garden,
letters, memories, stars, angel, thunder, shadows, horizon, island, train, window,
mountain, valley, forest, wings, diamonds, echoes, whispers, mirror, lullaby, serenade,
symphony, anthem, waltz, ballad, boulevard, harbour, lighthouse, carousel, rainbow, storm,
sunrise, sunset, weekend, holiday, paradise, daydream, heartbeat, kingdom, satellite,
postcard, avenue, skyline, fever, promise, secrets, wildflower""")
GENRES = _items("""
jazz, blues, rock, classic rock, classical, hip hop, rap, country, reggae, soul, funk,
disco, techno, house, folk, metal, heavy metal, punk, indie, pop, k pop, gospel, opera,
ambient, lo fi, bluegrass, salsa, samba, bossa nova, swing, grunge, r and b, trance,
dubstep, drum and bass, afrobeat, latin, electronic, dance, acoustic, piano, baroque,
motown, ska, flamenco, celtic, choral, soundtrack, christmas, eighties, nineties""")
MOODS = _items("""
relaxing, upbeat, happy, sad, chill, calm, energetic, romantic, mellow, peaceful,
cheerful, dreamy, moody, feel good, cosy, uplifting, soothing, lively, nostalgic,
motivational""")
ACTIVITIES = _items("""
workout, study, dinner, party, road trip, morning, sleep, cooking, running, reading,
focus, commute, cleaning, yoga, meditation, gaming, coding, gardening, bedtime, sunday,
late night, rainy day, summer, wedding, coffee shop""")

ROOMS = _items("""
living room, kitchen, bedroom, master bedroom, kids room, nursery, bathroom, hallway,
landing, dining room, office, study, garage, garden, patio, porch, basement, attic, loft,
utility room, laundry room, guest room, playroom, conservatory, back garden, front room,
spare room, games room, cellar, shed""")
DEVICES = _items("""
lights, lamp, ceiling light, floor lamp, desk lamp, bedside lamp, fan, ceiling fan,
heater, heating, air conditioning, air conditioner, thermostat, tv, television, speaker,
radio, kettle, coffee machine, oven, dishwasher, washing machine, tumble dryer, dryer,
robot vacuum, vacuum cleaner, blinds, curtains, shutters, garage door, doorbell camera,
security camera, alarm system, sprinklers, humidifier, dehumidifier, air purifier,
fireplace, fairy lights, christmas lights, hot water, towel rail, electric blanket,
projector, printer, router, fridge, freezer, microwave, slow cooker, smart plug,
fish tank light, porch light, garden lights, night light, sound bar""")
COLOURS = _items("""
red, orange, yellow, green, blue, purple, pink, white, warm white, cool white, daylight,
teal, turquoise, lavender, gold, amber, magenta, cyan, lime green, sky blue, navy blue,
candlelight, sunset orange, soft pink""")

EVENTS = _items("""
meeting, team meeting, staff meeting, stand up, lunch, dinner, doctor's appointment,
dentist appointment, haircut, job interview, phone call, video call, conference,
presentation, workshop, training session, parents evening, football practice,
piano lesson, swimming lesson, yoga class, gym session, date night, birthday party,
wedding, book club, performance review, deadline, flight, train, vet appointment,
car service, school play, coffee with {first_name}, lunch with {first_name},
dinner with {first_name} {surname}, meeting with {first_name} {surname},
call with {first_name}, driving lesson, guitar lesson, therapy session, eye test,
physio appointment, dance class, choir practice, team lunch, board meeting,
project review, sales call, quarterly review""")
EVENTS_ARTICLE = tuple(("an " if e[0] in "aeiou" else "a ") + e for e in EVENTS)
HOLIDAYS = _items("""
christmas, christmas eve, boxing day, new year's day, new year's eve, easter, halloween,
thanksgiving, valentine's day, mother's day, father's day, bonfire night,
independence day, the summer holidays, the bank holiday, my birthday, our anniversary,
the weekend, spring break, diwali, hanukkah, ramadan, eid, chinese new year,
saint patrick's day, the end of term, the school holidays, my holiday, payday""")

LANDMARKS = _items("""
the eiffel tower, big ben, the statue of liberty, mount everest,
the empire state building, the great wall of china, the golden gate bridge,
the burj khalifa, the leaning tower of pisa, the colosseum, the taj mahal,
the great pyramid, the sydney opera house, stonehenge, the grand canyon, niagara falls,
mount kilimanjaro, mount fuji, the london eye, the shard, tower bridge,
the sagrada familia, the acropolis, machu picchu, the white house, the kremlin,
buckingham palace, edinburgh castle, the space needle, the hoover dam, victoria falls,
the amazon river, the nile, the mississippi, lake victoria, the dead sea, ben nevis,
the pentagon, the great barrier reef, the sahara desert, mont blanc, lake geneva""")
INVENTIONS = _items("""
telephone, light bulb, internet, world wide web, aeroplane, television, radio, computer,
printing press, steam engine, bicycle, car, camera, telescope, microscope, penicillin,
refrigerator, microwave oven, sewing machine, typewriter, electric guitar, piano, zip,
paper clip, wheel, compass, calculator, video game, smartphone, jet engine, helicopter,
submarine, rocket, battery, electric motor, periodic table, vacuum cleaner,
washing machine, thermometer, barcode""")
ANIMALS = _items("""
dogs, cats, horses, cows, pigs, sheep, goats, chickens, ducks, geese, rabbits, hamsters,
mice, rats, squirrels, foxes, wolves, bears, polar bears, pandas, koalas, kangaroos,
lions, tigers, leopards, cheetahs, jaguars, elephants, giraffes, zebras, hippos, rhinos,
gorillas, chimpanzees, monkeys, camels, llamas, alpacas, deer, moose, bats, hedgehogs,
otters, beavers, badgers, seals, walruses, dolphins, whales, blue whales, sharks,
octopuses, squid, jellyfish, crabs, lobsters, starfish, turtles, tortoises, crocodiles,
alligators, snakes, lizards, frogs, toads, spiders, ants, bees, butterflies, ladybirds,
owls, eagles, parrots, penguins, flamingos, swans, peacocks, ostriches, hummingbirds,
robins, pigeons, dinosaurs, sloths, meerkats, orangutans""")
PLANETS = _items("""
mercury, venus, mars, jupiter, saturn, uranus, neptune, pluto, the moon, the sun""")
SPELL_WORDS = _items("""
necessary, separate, definitely, accommodation, rhythm, receive, believe, conscience,
conscious, embarrass, environment, government, independent, knowledge, library,
maintenance, mischievous, occasionally, occurrence, parliament, particularly,
pronunciation, questionnaire, recommend, restaurant, schedule, scissors, sincerely,
surprise, tomorrow, tongue, vacuum, weird, yacht, colleague, committee, guarantee,
harass, hierarchy, immediately, jewellery, liaison, millennium, miniature, neighbour,
noticeable, occurred, pharaoh, privilege, psychology, receipt, referred, religious,
sergeant, supersede, threshold, twelfth, unnecessary, acquaintance, apparent, argument,
beginning, business, calendar, category, cemetery, changeable, column, definite,
discipline, existence, experience, fiery, foreign, gauge, grateful, guidance, height,
humorous, ignorance, intelligence, kernel, leisure, licence, lightning, medieval,
memento, minuscule, misspell, nuisance, onomatopoeia, perseverance, playwright,
possession, precede, publicly, quarantine, rhyme, route, secretary, siege, successful,
technique, thorough, through, tyranny, until, whether, wholly, xylophone, algorithm,
bureaucracy, chrysanthemum, connoisseur, entrepreneur, hypothesis, idiosyncrasy,
juxtaposition, kaleidoscope, labyrinth, mnemonic, silhouette, subtle, symmetry,
ubiquitous, vicious, archipelago, benevolent, camouflage, dilemma, ephemeral, facetious,
gregarious, haphazard, itinerary, jeopardy, lieutenant, mortgage, nostalgia, obsolete,
paradigm, quintessential, resilient, serendipity, tranquil, ambiguous, anonymous,
bizarre, candid, diligent, eloquent, frugal, meticulous, nonchalant, pragmatic, prudent,
reluctant, sarcastic, spontaneous, tenacious, versatile, whimsical, zealous, buoyant,
conscientious, fluorescent, inoculate, occasion, parallel, pneumonia, rhinoceros,
sapphire, umbrella, vegetable, colonel, debris, epitome, hyperbole, quinoa, worcestershire,
dachshund, bouquet, catastrophe, cinnamon, daiquiri, fuchsia, gnome, handkerchief,
indict, knight, mediocre, paraphernalia, reminiscent, renaissance, rendezvous, sovereign,
synonym, thesaurus, vacillate, wednesday""")
LANGUAGES = _items("""
french, spanish, german, italian, portuguese, dutch, swedish, norwegian, danish,
finnish, polish, greek, turkish, russian, arabic, hebrew, hindi, japanese, chinese,
mandarin, cantonese, korean, thai, vietnamese, welsh, irish, swahili, latin""")
PHRASES = _items("""
hello, goodbye, thank you, please, good morning, good night, how are you, excuse me,
i'm sorry, where is the toilet, where is the train station, how much does this cost,
i love you, happy birthday, cheers, nice to meet you, the bill please,
i don't understand, do you speak english, my name is {first_name}, one coffee please,
see you tomorrow, welcome, congratulations, good luck, i'm lost, help,
where is the beach, a table for two please, i'm allergic to nuts""")
HISTORY_EVENTS = _items("""
the titanic sink, the second world war end, the first world war start,
the berlin wall come down, humans first land on the moon, the roman empire fall,
the french revolution start, the great fire of london happen, women get the vote,
the first olympic games take place, the internet become public, dinosaurs die out,
the industrial revolution begin, columbus reach america, the wright brothers first fly,
the channel tunnel open, the euro come into use, the cold war end""")

CURRENCIES = _items("""
pounds, dollars, euros, yen, rupees, pesos, swiss francs, australian dollars,
canadian dollars, yuan, rand, kroner""")
LENGTH_UNITS = (("inch", "inches"), ("foot", "feet"), ("yard", "yards"), ("mile", "miles"),
                ("centimetre", "centimetres"), ("metre", "metres"),
                ("kilometre", "kilometres"), ("millimetre", "millimetres"))
WEIGHT_UNITS = (("ounce", "ounces"), ("pound", "pounds"), ("stone", "stone"),
                ("gram", "grams"), ("kilogram", "kilograms"), ("ton", "tons"))
VOLUME_UNITS = (("teaspoon", "teaspoons"), ("tablespoon", "tablespoons"), ("cup", "cups"),
                ("pint", "pints"), ("litre", "litres"), ("millilitre", "millilitres"),
                ("gallon", "gallons"), ("fluid ounce", "fluid ounces"), ("quart", "quarts"))
TIME_UNITS = (("second", "seconds"), ("minute", "minutes"), ("hour", "hours"),
              ("day", "days"), ("week", "weeks"), ("month", "months"), ("year", "years"))

PLACE_TYPES = _items("""
petrol station, gas station, pharmacy, chemist, hospital, supermarket, post office,
bank, cash machine, coffee shop, cafe, restaurant, pizza place, bakery, library, gym,
swimming pool, park, playground, train station, bus stop, bus station, airport,
car park, parking garage, charging station, hardware store, bookshop, cinema, museum,
zoo, beach, hotel, police station, fire station, vet, dentist, doctor's surgery,
garden centre, shopping centre, mall, market, pub, bar, ice cream shop, car wash,
mechanic, hairdresser, barber, launderette, school, university, church, stadium,
tourist information centre, florist, butcher, sushi bar, taxi rank, ferry terminal""")
STREET_TYPES = _items("""
street, road, avenue, lane, drive, close, way, crescent, boulevard, place, square,
terrace, grove, court, hill, gardens""")
TREES = _items("oak, elm, maple, cedar, willow, birch, pine, ash, cherry, chestnut, beech, holly")
STREETS = _items("""
high street, main street, church road, station road, park lane, mill lane,
market square, king street, queen street, victoria road, london road, bridge street,
broadway, promenade road""")

NEWS_TOPICS = _items("""
politics, business, technology, science, health, sport, entertainment, world news,
local news, the economy, the stock market, climate change, the election, education,
travel, football, music, movies, celebrity news, space exploration,
artificial intelligence, the housing market, energy prices, interest rates, the budget,
crime, fashion, art, culture, the royal family, gaming, cars, the environment,
the war, the strikes, the heatwave, the floods""")
SPORTS = _items("""
football, soccer, basketball, baseball, hockey, ice hockey, tennis, cricket, rugby,
golf, formula one, boxing, cycling, athletics, swimming, snooker, darts, volleyball,
american football, horse racing, skiing, netball""")
MASCOTS = _items("""
lions, tigers, bears, eagles, hawks, falcons, wolves, sharks, dolphins, rangers, rovers,
united, city, wanderers, athletic, giants, titans, pirates, knights, kings, warriors,
comets, rockets, thunder, lightning, hurricanes, panthers, jaguars, bulls, stallions,
mustangs, raiders, chargers, spartans, vikings, owls, foxes, badgers, saints, royals""")
COMPETITIONS = _items("""
premier league, champions league, world cup, super bowl, world series, stanley cup,
wimbledon, the masters, tour de france, olympics, six nations, ashes, grand national,
formula one championship, european championship, ryder cup, boat race, french open,
australian open, cricket world cup, rugby world cup, league cup, open championship""")

DISHES = _items("""
spaghetti bolognese, lasagne, carbonara, mac and cheese, pizza, risotto, chicken curry,
lamb curry, vegetable curry, chicken tikka masala, butter chicken, dal,
chilli con carne, tacos, burritos, fajitas, enchiladas, nachos, guacamole, salsa,
paella, gazpacho, shepherd's pie, cottage pie, fish and chips, fish pie,
roast chicken, roast beef, yorkshire puddings, toad in the hole, beef stew, irish stew,
chicken soup, tomato soup, minestrone, french onion soup, pea soup,
leek and potato soup, pad thai, green curry, fried rice, stir fry, noodle soup, ramen,
sushi, teriyaki chicken, sweet and sour chicken, spring rolls, dumplings, beef burgers,
hot dogs, meatballs, meatloaf, pulled pork, barbecue ribs, chicken wings,
fried chicken, chicken nuggets, caesar salad, greek salad, potato salad, coleslaw,
hummus, falafel, kebabs, moussaka, quiche, omelette, scrambled eggs, poached eggs,
boiled eggs, fried eggs, eggs benedict, pancakes, french toast, porridge, banana bread,
carrot cake, chocolate cake, lemon drizzle cake, victoria sponge, brownies, flapjacks,
scones, apple pie, cheesecake, tiramisu, trifle, apple crumble, sticky toffee pudding,
bread and butter pudding, rice pudding, chocolate mousse, creme brulee, pavlova,
cupcakes, chocolate chip cookies, shortbread, jacket potatoes, mashed potatoes,
roast potatoes, gravy, stuffing, cauliflower cheese, ratatouille, goulash,
beef wellington, steak and ale pie, chicken pie, sausage rolls, pasties, quesadillas,
poke bowl, smoothie, milkshake, mulled wine, hot cross buns, gingerbread, flatbread,
naan bread, pesto pasta, tuna pasta bake, vegetable lasagne, lentil soup, bean chilli""")

SMALL_TALK = _lines("""
hello
hi there
good (morning|afternoon|evening|night)
how are you [today|doing]
how's it going
what's your name
who made you
how old are you
where do you live
are you a robot
are you (human|real|alive)
do you have feelings
what can you do
what are you doing [right now]
tell me [another] joke
tell me a (funny|silly|knock knock|terrible|dad) joke [about {animals}]
tell me a [bedtime] story [about {animals}]
sing me a song
sing happy birthday [to {first_name}]
i love you
do you love me
you're (funny|the best|so clever|really helpful|annoying|not very smart)
thank you [so much|very much]
thanks [a lot|for your help]
never mind
i'm (bored|tired|hungry|happy|sad|stressed|sleepy|excited|nervous|lonely|sick|cold)
i'm feeling (a bit|really|very) (bored|tired|happy|sad|stressed|excited|anxious|down)
what should i (do|watch|read|have for dinner) [today|tonight]
flip a coin
roll a dice
pick a number between {n_small} and {n_medium}
what's the meaning of life
do you dream
what's your favourite (colour|food|song|movie|animal|book|season|sport|planet|number)
do you like {genre} [music]
do you like {animals}
can you keep a secret
give me a compliment
motivate me
say something nice
what's up
(good job|well done|nice one)
that's not what i asked
you misunderstood me
are you listening [to me]
can you hear me
speak (slower|faster|louder|more quietly)
say that again
what did you say
tell me a fun fact [about {animals}|about {country}|about space|about history]
tell me a riddle
give me a tongue twister
happy new year
merry christmas
it's my birthday today
i'm going to bed
i'm home
let's play a game
play twenty questions
let's play rock paper scissors
what's the best pizza topping
recommend a (book|film|movie|podcast|tv show|board game) [for {day}]
what should i name my (dog|cat|goldfish|plant|car)
do you know any good (jokes|riddles|stories|songs)
what's your favourite {genre} song
how's your day going
what do you think about {animals}
can we be friends
do you speak {language}
teach me a word in {language}
""")

# ------------------------------------------------------------------ domain templates

DOMAINS: dict[str, tuple[str, ...]] = {
    "timers": _lines("""
        [{ask}] set a timer for {duration}
        [{ask}] set a {timer_label} timer for {duration}
        [{ask}] start a timer for {duration} [please]
        set a {n_minutes} minute timer [for the {timer_label}]
        (cancel|stop|pause|resume|restart) the [{timer_label}] timer
        how much time is left on the [{timer_label}] timer
        how long is left on my [{timer_label}] timer
        add {duration} to the [{timer_label}] timer
        [{ask}] set an alarm for {clock_time} [{day}]
        [{ask}] wake me up at {clock_time} [{day}]
        wake me up in {duration}
        set a {alarm_label} alarm for {clock_time} [{day}]
        set an alarm for {clock_time} every (day|morning|weekday|{weekday})
        set a repeating alarm for {clock_time} [every {weekday}]
        snooze [the alarm] [for {duration}]
        (turn off|stop|dismiss) (my|the) alarm
        (cancel|delete|remove) my {clock_time} alarm [for {day}]
        (cancel|delete) all my alarms [for {day}]
        what alarms do i have [set] [for {day}]
        is my alarm set for {day}
        change my {clock_time} alarm to {clock_time}
        move my [{alarm_label}] alarm to {clock_time}
        what time is my [{alarm_label}] alarm set for
        set a timer called {timer_label} for {duration}
        how many timers do i have [running]
        (cancel|stop) all [my] timers
        set a timer for {duration} and another one for {duration}
        name this timer {timer_label}
        count down from {n_small}
        start a stopwatch
    """),
    "reminders": _lines("""
        [{ask}] remind me to {task} {when}
        remind me {when} to {task}
        [{ask}] set a reminder to {task} [{when}]
        don't let me forget to {task} [{when}]
        create a reminder [for {day}] to {task}
        remind me about my {event} [{when}]
        what are my reminders [for {day}]
        what reminders do i have [{day}]
        (delete|cancel|remove) the reminder to {task}
        (delete|clear) all my reminders [for {day}]
        move my reminder to {task} to {clock_time}
        did i set a reminder to {task}
        remind me every {weekday} to {task}
        remind {first_name} to {task} [{when}]
        remind me in {duration} to {task}
    """),
    "music": _lines("""
        [{ask}] play [some] {artist} [in the {room}|on all speakers|on shuffle]
        play [the song] {song} [by {artist}]
        [{ask}] play [some] {genre} [music] [in the {room}|for {duration}]
        play [some] {mood} {genre} [music]
        play my {playlist} playlist [in the {room}|on shuffle|from the start]
        put on [some] {genre} [music] in the {room}
        [{ask}] play something {mood} [for {activity}]
        play music for {activity}
        shuffle [songs by] {artist}
        play the latest album by {artist}
        play {artist} radio
        play the top (ten|twenty|forty) [{genre}] (songs|hits) [from {year}]
        play [some] {genre} from the (sixties|seventies|eighties|nineties)
        (skip|next|previous) [song|track] [please]
        skip to the next (song|track) [in the {room}]
        skip this (song|track)
        go back to the (last|previous) song
        (pause|stop|resume) [the] music [in the {room}|for {duration}]
        turn (it|the music) (up|down) [a bit]
        set the volume to {volume} [in the {room}]
        volume {volume}
        what song is this
        who sings this [song]
        what's the name of this (song|album)
        add this song to my {playlist} playlist
        (like|i love) this song
        i don't like this song
        play this song on repeat
        repeat this (song|album)
        play {song} on repeat
        play songs like {song}
        play more songs like this
        is {artist} touring [in {city}] [this year]
        when is {artist} playing in {city}
        play {artist} in the {room}
        play {genre} on all speakers
        create a playlist called {playlist}
        play the album {song} by {artist}
    """),
    "weather": _lines("""
        what's the weather [like] [in {city}] [{wday}]
        what's the weather going to be like [in {city}] {wday}
        (will|is) it going to (rain|snow|be sunny|be windy|be cloudy|be foggy) [in {city}] [{wday}]
        will it (rain|snow|be sunny|be windy|freeze|thunder) [in {city}] {wday}
        what's the temperature [in {city}] [right now|{wday}]
        how (hot|cold|warm) (is it|will it be) [in {city}] [{wday}]
        do i need (an umbrella|a coat|a jacket|sunscreen|sun cream|gloves) [{wday}]
        what's the forecast [for {city}] [{wday}]
        what's the (humidity|wind speed|u v index|pollen count|air quality) [in {city}] [{wday}]
        what's the chance of rain [in {city}] [{wday}]
        what time is (sunrise|sunset) [in {city}] [{wday}]
        is there a (storm|heatwave|weather warning|flood warning) [in {city}] [{wday}]
        give me the (weekly|weekend|ten day|hourly) forecast [for {city}]
        will it be (warmer|colder) than {temp_value} degrees [in {city}] [{wday}]
        is it (nice|good) weather for {outing} [{wday}]
        how much rain (is expected|are we getting) [in {city}] [{wday}]
        is it (raining|snowing|sunny|windy|foggy) in {city} [right now]
        what's the weather (like|doing) in {city} {wday}
        compare the weather in {city} and {city}
        when will it stop raining
        how windy is it [outside] [in {city}]
        what was the weather like [in {city}] yesterday
        is it (hotter|colder|warmer) in {city} or {city}
        what's the weather like in {city} in {month}
    """),
    "calls": _lines("""
        [{ask}] call {contact} [on speaker|on (mobile|work|home)]
        (phone|ring|dial) {contact}
        video call {contact}
        start a video call with {contact}
        [{ask}] send a (message|text) to {contact} (saying|that says) {message}
        text {contact} [saying] {message}
        tell {contact} [that] {message}
        message {contact} {message}
        read my [new] (messages|texts|emails)
        read the last message from {contact}
        do i have any (missed calls|new messages|voicemails)
        play my voicemail [from {contact}]
        call back the last number
        reply [to {contact}] {message}
        send an email to {contact} about {email_topic}
        who called me [today|this morning|yesterday]
        (hang up|end the call|answer the call|reject the call|mute the call)
        block this number
        add {first_name} {surname} to my contacts
        dial {phone_number}
        save {phone_number} as {first_name} {surname}
        call {contact} back [in {duration}]
        did {contact} call [me] [today]
        send my location to {contact}
        share my (location|arrival time) with {contact}
        (call|text) {first_name} {surname}
    """),
    "shopping": _lines("""
        [{ask}] add {grocery} to my shopping list
        add {grocery} and {grocery} to (the|my) (shopping|grocery) list
        put {grocery} on (the|my) [shopping] list
        add {quantity} of {grocery} to (the|my) [shopping] list
        (remove|take) {grocery} (from|off) my [shopping] list
        do i have {grocery} on my [shopping] list
        have i (already|just) added {grocery} to the list
        what's on my (shopping|grocery|{list_name}) list
        read me my (shopping|grocery|{list_name}) list
        (clear|empty) my shopping list
        i need [some] {grocery} [and {grocery}]
        we're (out of|running low on) {grocery}
        (order|buy) [more|some] {grocery} [online]
        reorder {grocery} [and {grocery}]
        create a new list called {list_name}
        add {grocery} to my {list_name} list
        is there an offer on {grocery} [this week]
        what time does the supermarket (open|close) [{day}]
        how much is {quantity} of {grocery}
        add {grocery} {grocery} and {grocery} to the list
        where's my {list_name} list
        when is my (grocery|food|online) delivery [arriving]
        track my order
        cross {grocery} off the list
    """),
    "smart_home": _lines("""
        [{ask}] turn (on|off) the {device} [in the {room}]
        [{ask}] switch (on|off) the [{room}] {device}
        (dim|brighten) the [{room}] lights [to {percent}]
        set the [{room}] lights to ({percent}|{colour})
        (turn|make|change) the [{room}] lights {colour}
        set the (thermostat|heating|temperature) to {temp}
        (turn|put) the heating (up|down) [by {n_small} degrees]
        make (it|the {room}) (warmer|cooler|brighter|darker)
        (open|close) the [{room}] (blinds|curtains|shutters)
        lock the (front|back|garage|side) door
        is the (front|back|garage|side) door locked
        (start|stop|pause) the (dishwasher|washing machine|tumble dryer|robot vacuum)
        how long is left on the (dishwasher|washing machine|tumble dryer)
        what's the temperature in the {room}
        is the {device} on [in the {room}]
        turn everything off [in the {room}|downstairs|upstairs]
        turn off all the lights [downstairs|upstairs|in the {room}]
        (activate|start|run) [the] {scene} (mode|scene|routine)
        set the fan to (low|medium|high|speed {fan_speed})
        show [me] the (front door|back garden|driveway|baby|garage) camera [on the tv]
        who's at the door
        turn the (tv|speaker|radio|sound bar) (up|down)
        set the (tv|speaker|radio) volume to {volume}
        turn (on|off) the {device} at {clock_time} [{day}]
        turn off the {device} in {duration}
        schedule the {device} to turn (on|off) at {clock_time} [{day}]
        boost the hot water for {duration}
        set the oven to {oven_temp}
        preheat the oven [to {oven_temp}]
        vacuum the {room}
        is anyone in the {room}
        turn the {room} {device} (on|off)
        arm the (alarm|security system) [for the night]
        how much energy did we use (today|this week|yesterday)
        set the [{room}] lights to {colour} at {percent}
    """),
    "calendar": _lines("""
        what's on my (calendar|schedule|agenda) [for] {day}
        what do i have on {day}
        [{ask}] (add|schedule|book|put) {event_a} [with {contact}] {day} [at {clock_time}]
        [{ask}] (add|schedule|book) {event_a} on {date} [at {clock_time}]
        when is my next {event}
        (cancel|delete) my {event} [on {date}|{day}]
        (move|reschedule) my {event} to {day} [at {clock_time}]
        move my {clock_time} {event} to {clock_time}
        am i free {day} [at {clock_time}]
        do i have anything on {day} [at {clock_time}]
        what time is my {event} [{day}]
        how many days (until|till|is it until) {holiday}
        what day is {holiday} [this year|next year]
        what's the date {day}
        what day is it [today]
        what's today's date
        invite {contact} to my {event}
        what day of the week is {date} [{year}]
        is {date} a (weekday|bank holiday|public holiday)
        what week number is it
        when is {holiday} [this year]
        how many (days|weeks) (until|since) {date}
        create an event called {event} {day} [at {clock_time}]
        block out {day} for {event_a}
        who's coming to my {event}
        where is my {event} [{day}]
        how long is my {event} [{day}]
        what's my first (meeting|appointment) {day}
        add {holiday} to my calendar
        share my calendar with {contact}
    """),
    "questions": _lines("""
        what's the capital of {country}
        what is the capital city of {country}
        what's the population of ({country}|{city})
        how many people live in ({country}|{city})
        (how tall|how old|where|how big) is {landmark}
        who (built|designed) {landmark}
        who invented the {invention}
        when was the {invention} invented
        how (long|fast|far) can {animals} (run|swim|fly|jump)
        (what do|where do|how long do|how do) {animals} (eat|live|sleep)
        are {animals} (mammals|dangerous|endangered|smart)
        how far (is|away is) {planet} from (earth|the sun)
        how many moons does {planet} have
        how many {length_units} (are there|are) in {length_unit}
        how many {weight_units} (are there|are) in {weight_unit}
        how many {volume_units} (are there|are) in {volume_unit}
        how many {time_units} (are there|are) in {time_unit}
        convert {number} {length_units} to {length_units}
        convert {number} {weight_units} (to|into) {weight_units}
        what's {number} {volume_units} in {volume_units}
        what is {number} (degrees celsius|degrees fahrenheit) in (celsius|fahrenheit)
        how much is {number} {currency} in {currency}
        what's the exchange rate (from|between) {currency} (to|and) {currency}
        what's {number} (plus|minus|times|multiplied by|divided by) {number}
        what is {number} percent of {number}
        what's the square root of {number}
        what is {n_small} (squared|cubed)
        how do you spell {spell_word} [please]
        spell {spell_word} [for me]
        what does {spell_word} mean
        (define|give me the definition of) {spell_word}
        what's (another word|a synonym) for {spell_word}
        what rhymes with {spell_word}
        how do you pronounce {spell_word}
        how do you say {phrase} in {language}
        translate {phrase} (into|to) {language}
        what time is it in {city} [right now]
        what's the time difference between {city} and {city}
        when did {history_event}
        what happened in {year}
        how many days are there in {month} [{year}]
        what language do they speak in {country}
        what currency do they use in {country}
        how far is {city} from {city}
        how many calories are in {food_item}
        who is the (president|prime minister|king|queen) of {country}
        what's the tallest (mountain|building) in {country}
        what's the longest river in {country}
        is {country} bigger than {country}
        what's the highest mountain in the world
        what's the biggest animal in the world
        how old is the universe
        why is the sky blue
        how many bones are in the human body
        how many continents are there
        how deep is the (ocean|pacific ocean|atlantic ocean)
        what's the speed of (light|sound)
        what year was {first_name} {surname} born
        who won the (election|nobel prize|eurovision song contest) in {year}
        what's the weather on {planet}
    """),
    "navigation": _lines("""
        [{ask}] (navigate|give me directions|take me) to {destination}
        (get|show me) directions to {destination} [by {mode}]
        how (long will it take|long is it|far is it) to get to {destination} [by {mode}]
        how long does it take to (drive|walk|cycle) to {destination}
        find the nearest {place_type}
        where's the (closest|nearest) {place_type}
        is there a {place_type} near (me|here|{street})
        find a {place_type} on the way [to {destination}]
        how's the traffic [on the way] to {destination}
        how's the traffic on {road} [right now]
        are there any (delays|roadworks|accidents|road closures) on {road}
        what time do i need to leave to get to {destination} by {clock_time}
        (avoid|don't avoid) (tolls|motorways|highways|ferries)
        when's the next (bus|train|tram|ferry) to {city}
        what time is the last train (to|from) {city} [{day}]
        is my train (on time|delayed|cancelled)
        add a stop at the [nearest] {place_type}
        (cancel|stop|end) [the] navigation
        what's my (arrival time|estimated arrival time)
        what's the quickest route to {destination}
        how far is the nearest {place_type} [from here]
        where am i
        what road am i on
        show me {place_type} options near {destination}
        find parking near {destination}
        take the scenic route to {destination}
        how do i get from {city} to {city} [by {mode}]
        book a taxi to {destination} [for {clock_time}]
        is the {place_type} on {street} open [now|{day}]
        what time does the {place_type} (open|close) [{day}]
    """),
    "news": _lines("""
        what's the latest news [about {news_topic}] [today]
        give me the (headlines|top stories|news) [from {city}|about {news_topic}]
        play the (morning|evening|latest|local) news
        what's happening (in the world|in {city}|in {country}) [today]
        any news about {news_topic} [today|this week]
        how's the stock market doing [today]
        what's the price of (gold|oil|silver|bitcoin) [today]
        what was the score in the {team} game [last night]
        did the {team} win [last night|yesterday|on {weekday}]
        when do the {team} play next
        who (won|is winning) the {team} game
        what's the score between the {team} and the {team}
        who's top of the {competition} [table]
        when does the {competition} start [this year]
        who won the {competition} [in {year}]
        give me the latest {sport} (scores|results|news)
        how did the {team} do [this weekend|on {weekday}]
        is the {team} game on tv [tonight|{day}]
        what channel is the {competition} on
        how many goals has {first_name} {surname} scored this season
        who's playing in the {competition} final
        what's the latest (in|on) {sport}
        tell me the latest headlines (about|on) {news_topic}
        what are people talking about [today]
        read me the news from {country}
        who won the world cup in {year}
    """),
    "cooking": _lines("""
        [{ask}] how do i make {dish}
        [{ask}] give me a recipe for {dish}
        find a (quick|simple|healthy|vegetarian|vegan|gluten free|cheap) recipe for {dish}
        what can i (make|cook) with {grocery} and {grocery}
        how long do i (cook|bake|roast|boil|fry|grill) {dish} [for]
        what temperature should i (bake|roast|cook) {dish} at
        how many {cooking_units} [of {grocery}] [are there] in {cooking_unit}
        what can i use instead of {grocery}
        (next|previous|last) step
        (repeat|read) the (last|next|first) step [again]
        read me the (ingredients|method|recipe) [for {dish}]
        preheat the oven to {oven_temp}
        can i eat {grocery} on a gluten free diet
        how do you (chop|peel|dice|slice|crush) {grocery}
        how long does {dish} keep in the (fridge|freezer)
        can i freeze {dish}
        convert {number} (grams|ounces) [of {grocery}] to (cups|ounces|grams)
        how many people does this recipe serve
        scale the recipe for {n_small} people
        what goes well with {dish}
        what should i cook for dinner [tonight|{day}]
        how do i know when {dish} is done
        what wine goes with {dish}
        suggest a (side dish|dessert|starter) for {dish}
        how much {grocery} do i need for {dish}
        how long do i boil (an egg|pasta|rice|potatoes) [for]
        set a timer for the {dish}
    """),
    "small_talk": SMALL_TALK,
}
DOMAIN_NAMES: tuple[str, ...] = tuple(DOMAINS)

# ------------------------------------------------------------------------- slots


def _numbers(lo: int, hi: int, step: int = 1) -> tuple[str, ...]:
    return tuple(number_to_words(i) for i in range(lo, hi + 1, step))


def _units(pairs: tuple[tuple[str, str], ...], plural: bool) -> tuple[str, ...]:
    """Plural unit names, or singular ones with their article ("an inch", "a foot")."""
    if plural:
        return tuple(p[1] for p in pairs)
    return tuple(("an " if p[0][0] in "aeiou" or p[0] == "hour" else "a ") + p[0] for p in pairs)


SLOTS: dict[str, tuple[str, ...]] = {
    # numbers, times and dates
    "n_small": _numbers(2, 20),
    "n_medium": _numbers(21, 999),
    "n_large": _numbers(1000, 9999),
    "number": ("{n_small}", "{n_medium}", "{n_large}"),
    "n_seconds": _numbers(5, 90, 5),
    "n_minutes": _numbers(2, 59),
    "n_hours": _numbers(2, 12),
    "fan_speed": _numbers(1, 5),
    "volume": _numbers(0, 10) + _numbers(10, 100, 10),
    "percent": tuple(f"{n} percent" for n in _numbers(1, 100)),
    "temp_value": _numbers(0, 40),
    "room_temp": _numbers(15, 28),
    "temp": _lines("""
        {room_temp} degrees
        {room_temp} degrees (celsius|fahrenheit)
        (sixty|seventy|eighty) [{digit_nonzero}] degrees fahrenheit
    """),
    "oven_temp": (*(f"{n} degrees" for n in _numbers(150, 250, 10)), "gas mark {fan_speed}",
                  "gas mark (six|seven|eight|nine)"),
    "year": tuple(year_to_words(y) for y in range(1900, 2031)),
    "ordinal_day": tuple(ordinal_to_words(d) for d in range(1, 32)),
    "hour": _numbers(1, 12),
    "minute": (*(f"oh {n}" for n in _numbers(1, 9)), *_numbers(10, 59)),
    "minute_round": _items("oh five, ten, fifteen, twenty, twenty five, thirty, forty five"),
    "clock_time": _lines("""
        {hour} o'clock [in the (morning|afternoon|evening)]
        {hour} {minute} [a m|p m]
        {hour} {minute_round} (a m|p m|in the morning|in the evening)
        {hour} (a m|p m)
        half past {hour}
        quarter (past|to) {hour}
        (five|ten|twenty|twenty five) (past|to) {hour}
        (noon|midday|midnight)
    """),
    "duration": _lines("""
        {n_minutes} minutes
        {n_seconds} seconds
        {n_hours} hours
        (one|a) (minute|hour)
        (thirty|forty five) seconds
        half an hour
        (an|one) hour and a half
        (an|one) hour and {n_minutes} minutes
        {n_hours} hours and {n_minutes} minutes
        {n_small} and a half minutes
        a quarter of an hour
    """),
    "weekday": WEEKDAYS,
    "month": MONTHS,
    "date": _lines("""
        the {ordinal_day} [of {month}]
        {month} [the] {ordinal_day}
        {weekday} the {ordinal_day} [of {month}]
    """),
    "day": _lines("""
        today
        tonight
        tomorrow
        tomorrow (morning|afternoon|evening|night)
        the day after tomorrow
        (on|this|next) {weekday}
        {weekday} (morning|afternoon|evening)
        this weekend
        next week
        on {date}
    """),
    "wday": _lines("""
        today
        tonight
        tomorrow [morning|afternoon|evening]
        this (morning|afternoon|evening|weekend|week)
        (on|next) {weekday}
        {weekday} (morning|afternoon|night)
        next week
        later [today]
        over the weekend
        on {date}
    """),
    "when": _lines("""
        at {clock_time}
        {day}
        {day} at {clock_time}
        in {duration}
        this (morning|afternoon|evening)
        when i get (home|to work|to the office)
        when i leave (work|home|the house)
        every {weekday} [at {clock_time}]
        every (morning|evening|day|week|month)
        on {date}
    """),
    "digit": (*_numbers(0, 9), "oh"),
    "digit_nonzero": _numbers(1, 9),
    "phone_number": ("{digit} " * 11, "{digit} " * 10, "{digit} " * 7),
    # people
    "first_name": FIRST_NAMES,
    "surname": SURNAMES,
    "contact": ("{first_name}", "{first_name} {surname}", "{first_name}", *RELATIONS),
    # requests and politeness
    "ask": _items("can you, could you, please, would you, can you please, i need you to"),
    "prefix": _items("""
        hey, okay, hi, hey assistant, hi there, excuse me, um, so, right, alright, okay so,
        quick question, sorry, one more thing, hello assistant, hey there, oh and, actually,
        good morning, good evening, listen"""),
    "suffix": _items("""
        please, thanks, thank you, thanks a lot, cheers, thank you very much,
        if you don't mind, when you get a chance, cheers mate, thanks so much"""),
    # timers and reminders
    "timer_label": _items("""
        pasta, egg, rice, pizza, oven, tea, laundry, parking, workout, nap, homework, cake,
        bread, cookie, potato, break, meditation, study, reading, bath, roast, steak"""),
    "alarm_label": _items("""
        wake up, gym, work, school run, medicine, meeting, yoga, flight, train, bedtime,
        lunch, morning walk, early, backup"""),
    "task": _lines("""
        call {contact}
        text {first_name} [back]
        (buy|pick up|get) [some] {grocery}
        take out the (bins|trash|rubbish|recycling)
        water the (plants|garden|tomatoes)
        feed the (cat|dog|fish|chickens)
        walk the dog
        take my (medicine|tablets|vitamins|inhaler)
        pay the (rent|electricity bill|gas bill|phone bill|water bill|credit card)
        book a (table|haircut|taxi|doctor's appointment|service for the car)
        renew my (passport|driving licence|car insurance|library books|gym membership)
        charge my (phone|laptop|car|headphones)
        pick up the kids [from school]
        pick up {first_name} from the (station|airport|school|gym)
        send {first_name} a birthday card
        wish {first_name} happy birthday
        submit my timesheet
        reply to {first_name} [{surname}]
        finish the (report|presentation|essay|slides)
        check the oven
        put the washing out
        empty the dishwasher
        defrost the chicken
        lock the back door
        move the car
        cancel my (subscription|gym membership)
        return the library books
        go to the (gym|bank|post office|pharmacy)
        drink some water
        stand up and stretch
        back up my laptop
        change the bed sheets
        clean the (bathroom|kitchen|car|windows)
        mow the lawn
        order more {grocery}
        bring my (umbrella|keys|laptop|lunch|passport)
        pack my (gym bag|lunch|suitcase)
        check in for my flight
        print the tickets
        buy a present for {first_name}
        watch the {competition} [final]
        book tickets for {artist}
        make a (dentist appointment|doctor's appointment)
    """),
    "event": EVENTS,
    "event_a": EVENTS_ARTICLE,
    "holiday": HOLIDAYS,
    # music
    "artist": ARTISTS,
    "song_word": SONG_WORDS,
    "song_noun": SONG_NOUNS,
    "song": _lines("""
        {song_word} {song_noun}
        {song_noun} and {song_noun}
        the last {song_noun}
        my {song_word} {song_noun}
        {song_noun} of the {song_noun}
    """),
    "genre": GENRES,
    "mood": MOODS,
    "activity": ACTIVITIES,
    "playlist": ("{mood} {activity}", "{activity}", "{mood} {genre}", "{genre} {activity}",
                 "{mood}"),
    # weather, places and travel
    "city": CITIES,
    "country": COUNTRIES,
    "place_type": PLACE_TYPES,
    "street_type": STREET_TYPES,
    "tree": TREES,
    "street": (*STREETS, "{surname} {street_type}", "{tree} {street_type}",
               "{ordinal_day} (street|avenue)"),
    "house_number": _numbers(1, 300),
    "destination": _lines("""
        {city}
        [the] {city} city centre
        the [nearest] {place_type}
        {house_number} {street}
        {street} [in {city}]
        (work|home|the office|school|the airport)
        the {place_type} on {street}
    """),
    "road": _lines("""
        the m {n_medium}
        the (m|a) {n_small}
        (interstate|highway|route) {n_medium}
        the (ring road|bypass|motorway|freeway|bridge|tunnel) [into {city}]
        {street}
        the way (home|to work)
    """),
    "outing": _items("""
        a walk, a run, a barbecue, a picnic, cycling, the beach, hiking, gardening,
        washing the car, drying the laundry, a round of golf"""),
    "mode": _items("car, bike, bus, train, foot, tube, subway, tram, taxi"),
    # messages
    "message": _lines("""
        i'm running (late|a bit late|{duration} late)
        i'm on my way [home]
        i'll be there in {duration}
        i'll be home (at {clock_time}|{day}|soon|late)
        can you call me back [when you're free]
        see you (soon|later|tomorrow|at the {place_type}|at {clock_time})
        happy birthday [{first_name}]
        thank you so much
        love you
        what time is dinner
        can you pick up [some] {grocery} on the way home
        don't forget the {grocery}
        the {event} has been moved to {clock_time}
        are you free {day}
        let's meet at the {place_type} [at {clock_time}]
        good luck (today|tomorrow|with the {event})
        i've just landed
        i'm stuck in traffic
        where are you
        call me when you can
        dinner is ready
        i miss you
        do you need anything from the (shop|supermarket)
        congratulations
        sorry i missed your call
        i'll call you later
        the kids are asleep
        we're out of {grocery}
        have a great (day|weekend|trip)
        i'm at the {place_type}
    """),
    "email_topic": (*_items("the project, the invoice, the holiday, the party, the budget, "
                            "the contract, the school trip, the report"),
                    "the {event}", "{day}"),
    # shopping
    "grocery": GROCERIES,
    "list_name": _items("""
        party, barbecue, christmas, holiday, camping, weekly, hardware, pharmacy, baby,
        picnic, birthday, packing, garden, diy"""),
    "quantity": _lines("""
        (two|three|four|five|six|a dozen|a couple)
        {n_small} (packs|bottles|bags|tins|jars|boxes|cartons|loaves)
        (a|one) (pack|bottle|bag|tin|jar|box|carton|kilo|pound)
        (half a|one|two) (kilo|kilos|pound|pounds)
    """),
    # smart home
    "room": ROOMS,
    "device": DEVICES,
    "colour": COLOURS,
    "scene": _items("movie, reading, dinner, party, relax, sleep, morning, away, night, focus"),
    # questions
    "landmark": LANDMARKS,
    "invention": INVENTIONS,
    "animals": ANIMALS,
    "planet": PLANETS,
    "length_unit": _units(LENGTH_UNITS, False),
    "length_units": _units(LENGTH_UNITS, True),
    "weight_unit": _units(WEIGHT_UNITS, False),
    "weight_units": _units(WEIGHT_UNITS, True),
    "volume_unit": _units(VOLUME_UNITS, False),
    "volume_units": _units(VOLUME_UNITS, True),
    "time_unit": _units(TIME_UNITS, False),
    "time_units": _units(TIME_UNITS, True),
    "cooking_unit": _items("a cup, a tablespoon, a pound, a kilo, a pint, a litre, an ounce"),
    "cooking_units": _items("grams, ounces, teaspoons, tablespoons, millilitres, cups"),
    "currency": CURRENCIES,
    "spell_word": SPELL_WORDS,
    "language": LANGUAGES,
    "phrase": PHRASES,
    "history_event": HISTORY_EVENTS,
    "food_item": _items("""
        an apple, a banana, an orange, an egg, an avocado, a slice of bread, a bagel,
        a croissant, a cup of coffee, a glass of milk, a pint of beer, a glass of wine,
        a chocolate bar, a portion of chips, a slice of pizza, a scoop of ice cream"""),
    # news and sport
    "news_topic": NEWS_TOPICS,
    "sport": SPORTS,
    "mascot": MASCOTS,
    "team": ("{city} {mascot}",),
    "competition": COMPETITIONS,
    # cooking
    "dish": DISHES,
}

# ---------------------------------------------------------------------- expansion

_TOKEN_RE = re.compile(r"\{(\w+)\}|([\[\]()|])|([^\s\[\]()|{}]+)")

Seq = tuple  # tuple of (kind, value) nodes; kind is "word", "slot", "opt" or "alt"


@functools.cache
def _parse(template: str) -> tuple[Seq, ...]:
    """Parse a template into its top-level alternatives (usually just one sequence)."""
    tokens = _TOKEN_RE.findall(template)

    def items(i: int) -> tuple[Seq, int]:
        seq = []
        while i < len(tokens):
            slot, punct, word = tokens[i]
            if punct in ("[", "("):
                options, i = alternatives(i + 1, "]" if punct == "[" else ")")
                seq.append(("opt" if punct == "[" else "alt", options))
                continue
            if punct:
                break
            seq.append(("slot", slot) if slot else ("word", word))
            i += 1
        return tuple(seq), i

    def alternatives(i: int, close: str) -> tuple[tuple[Seq, ...], int]:
        options = []
        while True:
            seq, i = items(i)
            options.append(seq)
            punct = tokens[i][1] if i < len(tokens) else ""
            if punct == "|":
                i += 1
            elif punct == close:
                return tuple(options), i + 1
            else:
                raise ValueError(f"unbalanced brackets in template {template!r}")

    options, _ = alternatives(0, "")
    return options


def _expand(template: str, rng: random.Random, out: list[str]) -> None:
    options = _parse(template)
    _expand_seq(options[0] if len(options) == 1 else rng.choice(options), rng, out)


def _expand_seq(seq: Seq, rng: random.Random, out: list[str]) -> None:
    for kind, value in seq:
        if kind == "word":
            out.append(value)
        elif kind == "slot":
            _expand(rng.choice(SLOTS[value]), rng, out)
        elif kind == "alt" or rng.random() < OPTIONAL_P:
            _expand_seq(value[0] if len(value) == 1 else rng.choice(value), rng, out)


def _sample(rng: random.Random) -> tuple[str, str]:
    domain = rng.choice(DOMAIN_NAMES)
    out: list[str] = []
    if rng.random() < PREFIX_P:
        _expand("{prefix}", rng, out)
    _expand(rng.choice(DOMAINS[domain]), rng, out)
    if rng.random() < COMPOUND_P:
        out.append("and")
        _expand(rng.choice(DOMAINS[domain]), rng, out)
    if rng.random() < SUFFIX_P:
        _expand("{suffix}", rng, out)
    return normalize_text(" ".join(out)), domain


def generate_with_domain(
    rng: random.Random, min_words: int = 3, max_words: int = 20
) -> tuple[str, str]:
    """One utterance with ``min_words <= len(words) <= max_words`` and its domain name.

    Sentences outside the bounds are discarded and a new one (domain included) is drawn.
    """
    if not 1 <= min_words <= max_words:
        raise ValueError(f"need 1 <= min_words <= max_words, got {min_words}, {max_words}")
    for _ in range(MAX_TRIES):
        text, domain = _sample(rng)
        if min_words <= text.count(" ") + 1 <= max_words:
            return text, domain
    raise RuntimeError(f"no sentence with {min_words}..{max_words} words in {MAX_TRIES} tries")


def generate(rng: random.Random, min_words: int = 3, max_words: int = 20) -> str:
    """One normalised utterance whose word count lies in ``[min_words, max_words]``."""
    return generate_with_domain(rng, min_words, max_words)[0]


# --------------------------------------------------------------------- vocabulary


def _reachable_templates() -> list[str]:
    """Every template reachable from the domains and the prefix/suffix slots."""
    templates = [t for name in DOMAIN_NAMES for t in DOMAINS[name]]
    seen = {"prefix", "suffix"}
    templates += [*SLOTS["prefix"], *SLOTS["suffix"], "and"]
    i = 0
    while i < len(templates):
        for slot, _, _ in _TOKEN_RE.findall(templates[i]):
            if slot and slot not in seen:
                if slot not in SLOTS:
                    raise KeyError(f"template {templates[i]!r} uses unknown slot {slot!r}")
                seen.add(slot)
                templates.extend(SLOTS[slot])
        i += 1
    return templates


@functools.cache
def _vocabulary() -> tuple[str, ...]:
    words: set[str] = set()
    for template in _reachable_templates():
        for _, _, word in _TOKEN_RE.findall(template):
            if word:
                words.update(normalize_text(word).split())
    return tuple(sorted(words))


def vocabulary() -> list[str]:
    """Sorted list of every word the grammar can produce (derived from the templates)."""
    return list(_vocabulary())
