/* gendemo.c — deterministic generator of the demo purchases and vendor review files. */
/*
 * gendemo --purchases FILE --reviews FILE [--scale K] [--seed S]
 *
 * purchases: the shape of the UCI Online Retail file, renamed to the columns of
 *   retail.user_purchase; 541,909 rows at scale 1, LF line ends, RFC 4180
 *   quoting.  Dates spread over the 60 days 2021-03-02 .. 2021-04-30 in
 *   proportion to the row number, and an invoice never spans two days, so
 *   every day has rows once there are at least 60 rows.
 * reviews: a vendor file `cid,review_str`, 100,000 rows at scale 1, with a
 *   UTF-8 BOM, CRLF record ends, RFC 4180 quoting and the awkward content a
 *   real vendor file holds (see gen_review and gen_cid).
 *
 * Only integer arithmetic decides the bytes written, so the output is the
 * same on every run and every machine for the same (scale, seed).  All text
 * comes from the word lists below, written for this tool.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define N_ROWS_1     541909LL   /* purchase rows at scale 1 */
#define N_REVIEWS_1  100000LL   /* reviews at scale 1 */
#define CUST_LO      12346
#define CUST_HI      18287
#define N_CUST       4372       /* distinct customer ids */
#define N_PROD       3700       /* catalogue size */
#define N_DAYS       60
#define TEXT_MAX     8192       /* longest review text, bytes */
#define DESC_MAX     160

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* ---- random numbers: splitmix64 seeding a xorshift64* stream ---------- */

typedef struct { uint64_t s; } rng;

static uint64_t splitmix(uint64_t *x)
{
	uint64_t z = (*x += 0x9E3779B97F4A7C15ULL);
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
	return z ^ (z >> 31);
}

static void rng_init(rng *r, uint64_t seed, uint64_t stream)
{
	uint64_t x = seed ^ (stream * 0xD1B54A32D192ED03ULL);
	r->s = splitmix(&x);
	if (r->s == 0)
		r->s = 1;
}

static uint64_t rnext(rng *r)
{
	r->s ^= r->s >> 12;
	r->s ^= r->s << 25;
	r->s ^= r->s >> 27;
	return r->s * 0x2545F4914F6CDD1DULL;
}

/* uniform in [0, n) */
static uint32_t rbelow(rng *r, uint32_t n)
{
	return (uint32_t)(((rnext(r) >> 32) * (uint64_t)n) >> 32);
}

/* true with probability num/den */
static int rchance(rng *r, uint32_t num, uint32_t den)
{
	return rbelow(r, den) < num;
}

#define PICK(r, a) ((a)[rbelow((r), (uint32_t)COUNT(a))])

/* ---- output with a sticky error ----------------------------------------- */

typedef struct {
	FILE *f;
	int failed;                         /* errno of the first failed write */
} out;

static void put(out *o, const char *s, size_t n)
{
	if (!o->failed && fwrite(s, 1, n, o->f) != n)
		o->failed = errno ? errno : EIO;
}

static void puts_(out *o, const char *s)
{
	put(o, s, strlen(s));
}

/* RFC 4180: quote when the field holds a comma, a quote, CR or LF */
static void put_field(out *o, const char *s, size_t n)
{
	size_t i, start = 0;
	if (strcspn(s, ",\"\r\n") >= n) {
		put(o, s, n);
		return;
	}
	put(o, "\"", 1);
	for (i = 0; i < n; i++) {
		if (s[i] == '"') {
			put(o, s + start, i + 1 - start);
			put(o, "\"", 1);
			start = i + 1;
		}
	}
	put(o, s + start, n - start);
	put(o, "\"", 1);
}

static void put_long(out *o, long long v)
{
	char tmp[32];
	int n = snprintf(tmp, sizeof(tmp), "%lld", v);
	put(o, tmp, (size_t)n);
}

/* ---- a bounded text builder --------------------------------------------- */

typedef struct {
	char b[TEXT_MAX];
	size_t n;
} text;

static void tx_add(text *t, const char *s)
{
	size_t k = strlen(s);
	if (k > sizeof(t->b) - 1 - t->n)
		k = sizeof(t->b) - 1 - t->n;
	memcpy(t->b + t->n, s, k);
	t->n += k;
	t->b[t->n] = '\0';
}

/* ---- vocabulary (written for this tool) --------------------------------- */

static const char *const shape[] = {
	"ROUND", "SQUARE", "OVAL", "TALL", "SLIM", "CHUNKY", "MINI", "JUMBO",
	"FOLDING", "HANGING", "STACKING", "NESTING", "TWISTED", "FLUTED",
};
static const char *const finish[] = {
	"SPECKLED", "STRIPED", "GINGHAM", "POLKA", "MARBLED", "FROSTED", "RUSTIC",
	"PAINTED", "ENAMEL", "WICKER", "CERAMIC", "PEWTER", "LINEN", "BIRCH",
	"COPPER", "SLATE", "CORK", "BAMBOO", "VELVET", "TIN",
};
static const char *const colour[] = {
	"TEAL", "OCHRE", "PLUM", "SAGE", "CORAL", "IVORY", "MUSTARD", "NAVY",
	"BLUSH", "MINT", "RUST", "LILAC", "CHARCOAL", "LEMON",
};
static const char *const item[] = {
	"LANTERN", "TEA TIN", "BISCUIT JAR", "DOORSTOP", "COAT PEG", "EGG CUP",
	"BUNTING", "NOTEBOOK", "PHOTO FRAME", "CANDLE POT", "PLANTER", "TRINKET BOX",
	"APRON", "OVEN GLOVE", "DRAWER KNOB", "WALL CLOCK", "MUG", "TRAY",
	"SPICE RACK", "LUNCH BAG", "TOTE", "PEG BAG", "COASTER", "WIND CHIME",
	"GIFT WRAP", "STICKER SHEET", "PENCIL CASE", "HOT WATER BOTTLE",
	"CAKE STAND", "BIRD FEEDER", "NIGHT LIGHT", "KEY RING",
};
static const char *const tail[] = {
	", SET OF 3", ", SET OF 6", ", ASSORTED", " 7\"X5\"", " 10\" WIDE",
	" \"HOME\" SIGN", ", LARGE", " (PACK OF 12)", " CRÈME", " W/ LID",
};
static const char *const country[] = {
	"Germany", "France", "EIRE", "Spain", "Netherlands", "Belgium",
	"Switzerland", "Portugal", "Australia", "Norway", "Italy",
	"Channel Islands", "Finland", "Cyprus", "Sweden", "Austria", "Denmark",
	"Japan", "Poland", "Israel", "USA", "Singapore", "Iceland", "Canada",
	"Greece", "Malta", "United Arab Emirates", "European Community", "RSA",
	"Lebanon", "Lithuania", "Brazil", "Czech Republic", "Bahrain",
	"Saudi Arabia", "Unspecified",
};
/* prices in thousandths; a few need all three decimals */
static const int price_milli[] = {
	290, 420, 550, 650, 720, 850, 1250, 1450, 1650, 1950, 2100, 2550, 2950,
	3750, 4250, 4950, 5950, 7950, 8500, 9950, 12750, 14950, 16950, 24950,
	39950, 195, 165, 38, 1085, 2475,
};
static const int qty_common[] = {
	1, 1, 1, 2, 2, 3, 4, 6, 6, 8, 10, 12, 12, 12, 24, 24, 25, 36, 48, 96,
};

/* review words; none of them is, contains or lower-cases to "good" */
static const char *const rword[] = {
	"the", "film", "story", "plot", "cast", "scene", "camera", "score", "lead",
	"director", "script", "ending", "pacing", "lighting", "villain", "hero",
	"dialogue", "sequel", "runtime", "twist", "rather", "quite", "somewhat",
	"oddly", "mostly", "never", "always", "again", "slow", "brisk", "loud",
	"quiet", "bright", "murky", "clumsy", "sharp", "tender", "brittle", "warm",
	"chilly", "uneven", "tidy", "messy", "and", "but", "or", "so", "yet", "of",
	"to", "in", "on", "with", "about", "after", "before", "while", "was",
	"is", "felt", "seemed", "became", "kept", "lost", "found", "carried",
	"wandered", "sparkled", "dragged", "landed", "stumbled", "glowed",
	"montage", "soundtrack", "editing", "costumes", "sets", "extras",
	"cinema", "popcorn", "audience", "critics", "trailer", "opening", "credits",
	"act", "third", "second", "first", "moment", "line", "joke", "chase",
	"heist", "romance", "mystery", "western", "musical", "drama", "comedy",
	"Tuesday", "matinee", "projector", "usher", "balcony", "aisle", "ticket",
};
static const char *const rnonascii[] = {
	"café", "naïve", "déjà vu", "Straße", "smörgåsbord", "façade", "jalapeño",
	"Ελληνικά", "Фильм", "映画", "영화", "🎬", "★★★☆☆", "über", "—", "“quoted”",
};
/* words that look like the keyword and are not the token "good" */
static const char *const decoy[] = {
	"good.", "goodness", "not-good", "good,", "\"good\"", "goods", "(good)",
	"good!", "goodbye", "Good-ish", "\xC2\xA0good", "so\xC2\xA0good",
	"good?", "'good'", "ungood", "good...",
};
/* the keyword, as a whole token after lower-casing and splitting on [ \t\n\v\f\r] */
static const char *const keyword[] = {
	" good ", " Good ", " GOOD ", " gOOd ", "\tgood ", " good\t", " good\x0B",
	"\x0Bgood ", " good\r\n", "\ngood ", " good\f",
};

/* ---- customers ---------------------------------------------------------- */

static int cust_id[N_CUST];          /* in rank order: low rank = heavy buyer */
static unsigned char cust_ctry[N_CUST]; /* 0 = United Kingdom, else country[k-1] */

static void make_customers(uint64_t seed)
{
	static int pool[CUST_HI - CUST_LO + 1];
	rng r;
	int i, n = CUST_HI - CUST_LO + 1;

	rng_init(&r, seed, 1);
	for (i = 0; i < n; i++)
		pool[i] = CUST_LO + i;
	for (i = 0; i < N_CUST; i++) {     /* partial Fisher-Yates */
		int j = i + (int)rbelow(&r, (uint32_t)(n - i));
		int t = pool[i];
		pool[i] = pool[j];
		pool[j] = t;
		cust_id[i] = pool[i];
		cust_ctry[i] = rchance(&r, 89, 100) ? 0
		        : (unsigned char)(1 + rbelow(&r, (uint32_t)COUNT(country) - 1));
	}
}

/* the first quarter of the ranks: the early cohort whose ids the reviews carry */
#define COHORT (N_CUST / 4)

/* ---- purchases ---------------------------------------------------------- */

typedef struct {
	char code[24];
	char desc[DESC_MAX];
	int price;                          /* thousandths */
} product;

static product prod[N_PROD];

static void make_products(uint64_t seed)
{
	rng r;
	int i;

	rng_init(&r, seed, 2);
	for (i = 0; i < N_PROD; i++) {
		product *p = &prod[i];
		int base = 10000 + i * 23;
		size_t n;

		if (rchance(&r, 1, 10))
			snprintf(p->code, sizeof(p->code), "%d%c", base,
			         'A' + (int)rbelow(&r, 7));
		else
			snprintf(p->code, sizeof(p->code), "%d", base);
		if (rchance(&r, 1, 3))
			n = (size_t)snprintf(p->desc, sizeof(p->desc), "%s %s %s %s",
			        PICK(&r, shape), PICK(&r, finish), PICK(&r, colour), PICK(&r, item));
		else
			n = (size_t)snprintf(p->desc, sizeof(p->desc), "%s %s %s",
			        PICK(&r, finish), PICK(&r, colour), PICK(&r, item));
		if (rchance(&r, 1, 8))
			n += (size_t)snprintf(p->desc + n, sizeof(p->desc) - n, "%s",
			        PICK(&r, tail));
		if (rchance(&r, 1, 40) && n + 1 < sizeof(p->desc)) {
			p->desc[n++] = ' ';             /* a trailing space, as vendors do */
			p->desc[n] = '\0';
		}
		p->price = PICK(&r, price_milli);
		if (rchance(&r, 1, 200))
			p->price = 0;
	}
	/* a few service lines */
	snprintf(prod[0].code, sizeof(prod[0].code), "POST");
	snprintf(prod[0].desc, sizeof(prod[0].desc), "POSTAGE");
	prod[0].price = 18000;
	snprintf(prod[1].code, sizeof(prod[1].code), "M");
	snprintf(prod[1].desc, sizeof(prod[1].desc), "Manual");
	prod[1].price = 2500;
	snprintf(prod[2].code, sizeof(prod[2].code), "DOT");
	snprintf(prod[2].desc, sizeof(prod[2].desc), "DOTCOM POSTAGE");
	prod[2].price = 11375;
}

/* day 0 = 2021-03-02 .. day 59 = 2021-04-30 */
static void day_date(int day, int *month, int *mday)
{
	if (day < 30) {
		*month = 3;
		*mday = 2 + day;
	} else {
		*month = 4;
		*mday = day - 29;
	}
}

static void put_price(out *o, int milli)
{
	char tmp[32];
	int n = snprintf(tmp, sizeof(tmp), "%d.%03d", milli / 1000, milli % 1000);
	while (n > 0 && tmp[n - 1] == '0')   /* 2.950 -> 2.95, 18.000 -> 18 */
		n--;
	if (n > 0 && tmp[n - 1] == '.')
		n--;
	put(o, tmp, (size_t)n);
}

static void gen_purchases(out *o, long long total, uint64_t seed)
{
	rng r;
	long long row = 0, invoice = 600000, cust_inv = 0;

	rng_init(&r, seed, 3);
	puts_(o, "invoice_number,stock_code,detail,quantity,invoice_date,unit_price,"
	         "customer_id,country\n");
	while (row < total && !o->failed) {
		int cancel = rchance(&r, 15, 100);
		int size, cust = -1, ctry, month, mday, minute, sec, k, day;
		long long pos;
		char inv[24], when[48];

		if (cancel)
			size = 1 + (int)rbelow(&r, 3) + (rchance(&r, 1, 5) ? (int)rbelow(&r, 6) : 0);
		else
			size = 1 + (int)rbelow(&r, 21) + (int)rbelow(&r, 21)
			       + (rchance(&r, 1, 50) ? (int)rbelow(&r, 200) : 0);
		if (!cancel && rchance(&r, 255, 1000)) {
			cust = -1;                      /* no customer id */
		} else {
			/* every 4th customer invoice introduces the next customer by rank,
			 * so all customers appear and the low ranks appear early */
			if (cust_inv % 4 == 0 && cust_inv / 4 < N_CUST)
				cust = (int)(cust_inv / 4);
			else if (rchance(&r, 3, 100))
				cust = (int)rbelow(&r, 5);
			else
				cust = (int)((uint64_t)rbelow(&r, N_CUST) * rbelow(&r, N_CUST) / N_CUST);
			cust_inv++;
		}
		if (cust >= 0)
			ctry = cust_ctry[cust];
		else
			ctry = rchance(&r, 97, 100) ? 0 : 1 + (int)rbelow(&r, (uint32_t)COUNT(country) - 1);

		/* business minutes 07:30..19:29, 720 a day, proportional to the row */
		pos = row * (N_DAYS * 720LL) / total;
		day = (int)(pos / 720);
		day_date(day, &month, &mday);
		minute = 7 * 60 + 30 + (int)(pos % 720);
		sec = (int)rbelow(&r, 60);
		snprintf(when, sizeof(when), "2021-%02d-%02d %02d:%02d:%02d",
		         month, mday, minute / 60, minute % 60, sec);
		snprintf(inv, sizeof(inv), "%s%lld", cancel ? "C" : "", invoice++);

		for (k = 0; k < size && row < total; k++, row++) {
			const product *p;
			int q;
			if (k > 0 && row * N_DAYS / total != day)
				break;                      /* the next day starts a new invoice */
			uint32_t pi = rchance(&r, 1, 100) ? rbelow(&r, 3) /* service line */
			        : 3 + (rbelow(&r, N_PROD - 3) * (uint64_t)rbelow(&r, N_PROD - 3)) / (N_PROD - 3);
			p = &prod[pi];
			q = PICK(&r, qty_common);
			if (rchance(&r, 1, 300))
				q = 100 + (int)rbelow(&r, 4900);
			if (cancel)
				q = -q;
			puts_(o, inv);
			put(o, ",", 1);
			puts_(o, p->code);
			put(o, ",", 1);
			put_field(o, p->desc, strlen(p->desc));
			put(o, ",", 1);
			put_long(o, q);
			put(o, ",", 1);
			puts_(o, when);
			put(o, ",", 1);
			put_price(o, pi == 1 ? 100 + (int)rbelow(&r, 400000) : p->price);
			put(o, ",", 1);
			if (cust >= 0)
				put_long(o, cust_id[cust]);
			put(o, ",", 1);
			puts_(o, ctry == 0 ? "United Kingdom" : country[ctry - 1]);
			put(o, "\n", 1);
		}
	}
}

/* ---- reviews ------------------------------------------------------------ */

/* the cid field: mostly a cohort customer id, sometimes a near miss */
static void gen_cid(rng *r, char *buf, size_t cap)
{
	int id = cust_id[rbelow(r, COHORT)];
	uint32_t u = rbelow(r, 1000);

	if (u < 600)
		snprintf(buf, cap, "%d", id);
	else if (u < 850)                       /* an integer that is no customer */
		snprintf(buf, cap, "%d", 20000 + (int)rbelow(r, 80000));
	else if (u < 880)
		snprintf(buf, cap, " %d ", id);   /* matches once trimmed */
	else if (u < 900)
		snprintf(buf, cap, "00%d", id);   /* leading zeros match */
	else if (u < 910)
		snprintf(buf, cap, "+%d", id);    /* so does a sign */
	else if (u < 930)
		snprintf(buf, cap, "%d.0", id);   /* not an integer */
	else if (u < 945)
		snprintf(buf, cap, "C%d", id);
	else if (u < 955)
		snprintf(buf, cap, "%s", rchance(r, 1, 2) ? "anonymous" : "n/a");
	else if (u < 965)
		snprintf(buf, cap, "99999999999"); /* beyond int */
	else if (u < 970)
		snprintf(buf, cap, "2147483648");
	else if (u < 975)
		snprintf(buf, cap, "-%d", 1 + (int)rbelow(r, 999));
	else if (u < 980)                       /* full-width digits are not [0-9] */
		snprintf(buf, cap, "\xEF\xBC\x91\xEF\xBC\x92%d", id % 1000);
	else if (u < 985)
		snprintf(buf, cap, "%d,%03d", id / 1000, id % 1000);
	else
		buf[0] = '\0';                      /* empty */
}

/* one review: ~1.3 KB of prose; positive iff the keyword is placed */
static void gen_review(rng *r, text *t)
{
	uint32_t kind = rbelow(r, 1000);
	size_t target, kw_at;
	int positive, sentence = 0, words = 0, placed = 0;

	t->n = 0;
	t->b[0] = '\0';
	if (kind < 5)                           /* empty */
		return;
	if (kind < 7) {                         /* only blanks */
		tx_add(t, rchance(r, 1, 2) ? "   " : " \t ");
		return;
	}
	positive = rchance(r, 1, 3);
	target = 300 + rbelow(r, 1000) + rbelow(r, 1000);   /* mean ~1.3 KB */
	kw_at = positive ? rbelow(r, (uint32_t)target) : (size_t)-1;

	while (t->n < target) {
		const char *w;

		if (words == 0) {
			/* start a sentence: capitalise the first word */
			char cap[40];
			w = PICK(r, rword);
			snprintf(cap, sizeof(cap), "%s", w);
			if (cap[0] >= 'a' && cap[0] <= 'z')
				cap[0] = (char)(cap[0] - 'a' + 'A');
			if (sentence > 0)
				tx_add(t, " ");
			tx_add(t, cap);
			words = 1;
			continue;
		}
		if (!placed && t->n >= kw_at) {
			tx_add(t, PICK(r, keyword));
			tx_add(t, PICK(r, rword));
			placed = 1;
			words++;
			continue;
		}
		switch (rbelow(r, 60)) {
		case 0: tx_add(t, ","); break;
		case 1: tx_add(t, " \""); tx_add(t, PICK(r, rword)); tx_add(t, "\""); break;
		case 2: tx_add(t, " "); tx_add(t, PICK(r, rnonascii)); break;
		case 3: tx_add(t, " "); tx_add(t, PICK(r, decoy)); break;
		case 4: tx_add(t, "\t"); tx_add(t, PICK(r, rword)); break;
		case 5: tx_add(t, ", "); tx_add(t, PICK(r, rword)); break;
		default: tx_add(t, " "); tx_add(t, PICK(r, rword)); break;
		}
		words++;
		if (words > 6 && rchance(r, 1, 9)) {
			uint32_t end = rbelow(r, 40);
			tx_add(t, end < 30 ? "." : end < 35 ? "!" : end < 38 ? "?" : "...");
			if (rchance(r, 1, 12))          /* paragraph breaks inside the field */
				tx_add(t, rchance(r, 1, 2) ? "\n\n" : "\r\n");
			else if (rchance(r, 1, 40))
				tx_add(t, "\x0B");
			words = 0;
			sentence++;
		}
	}
	if (!placed && positive) {
		tx_add(t, PICK(r, keyword));
		tx_add(t, "enough");
	}
	if (words != 0)
		tx_add(t, ".");
}

static void gen_reviews(out *o, long long total, uint64_t seed)
{
	static text t;
	rng r;
	long long i;
	char cid[64];

	rng_init(&r, seed, 4);
	puts_(o, "\xEF\xBB\xBF" "cid,review_str\r\n");
	for (i = 0; i < total && !o->failed; i++) {
		gen_cid(&r, cid, sizeof(cid));
		gen_review(&r, &t);
		put_field(o, cid, strlen(cid));
		put(o, ",", 1);
		if (t.n == 0 && rchance(&r, 1, 2))
			put(o, "\"\"", 2);              /* an empty review, quoted */
		else
			put_field(o, t.b, t.n);
		put(o, "\r\n", 2);
	}
}

/* ---- main --------------------------------------------------------------- */

static void usage(FILE *f)
{
	fputs("usage: gendemo [--purchases FILE] [--reviews FILE] [--scale K] [--seed S]\n"
	      "  writes the demo purchases (541,909 rows x K) and vendor reviews\n"
	      "  (100,000 rows x K); the same arguments give the same bytes\n", f);
}

static int write_file(const char *path, long long rows, uint64_t seed,
                      void (*gen)(out *, long long, uint64_t))
{
	static char vbuf[1 << 20];
	out o = { NULL, 0 };
	struct stat st;
	int rc = -1;

	o.f = fopen(path, "wb");
	if (!o.f) {
		fprintf(stderr, "gendemo: cannot create '%s': %s\n", path, strerror(errno));
		return -1;
	}
	setvbuf(o.f, vbuf, _IOFBF, sizeof(vbuf));
	errno = 0;
	gen(&o, rows, seed);
	if (fflush(o.f) != 0 && !o.failed)
		o.failed = errno ? errno : EIO;
	if (fclose(o.f) != 0 && !o.failed)
		o.failed = errno ? errno : EIO;
	if (o.failed) {
		fprintf(stderr, "gendemo: cannot write '%s': %s\n", path, strerror(o.failed));
		if (stat(path, &st) == 0 && S_ISREG(st.st_mode))
			remove(path);               /* a partial file; never a device */
		goto out;
	}
	rc = 0;
out:
	return rc;
}

int main(int argc, char **argv)
{
	const char *purchases = NULL, *reviews = NULL;
	double scale = 1.0;
	uint64_t seed = 20210430;
	long long n_rows, n_reviews;
	int i;

	for (i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;
		char *end;

		if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
			usage(stdout);
			return 0;
		}
		if (!v) {
			fprintf(stderr, "gendemo: option '%s' needs a value\n", a);
			usage(stderr);
			return 2;
		}
		i++;
		if (strcmp(a, "--purchases") == 0) {
			purchases = v;
		} else if (strcmp(a, "--reviews") == 0) {
			reviews = v;
		} else if (strcmp(a, "--scale") == 0) {
			errno = 0;
			scale = strtod(v, &end);
			if (errno || end == v || *end || !(scale > 0) || scale > 1000) {
				fprintf(stderr, "gendemo: invalid scale '%s' (want a number in (0, 1000])\n", v);
				return 2;
			}
		} else if (strcmp(a, "--seed") == 0) {
			errno = 0;
			seed = strtoull(v, &end, 10);
			if (errno || end == v || *end || v[0] == '-') {
				fprintf(stderr, "gendemo: invalid seed '%s'\n", v);
				return 2;
			}
		} else {
			fprintf(stderr, "gendemo: unknown option '%s'\n", a);
			usage(stderr);
			return 2;
		}
	}
	if (!purchases && !reviews) {
		usage(stderr);
		return 2;
	}
	n_rows = (long long)(N_ROWS_1 * scale + 0.5);
	n_reviews = (long long)(N_REVIEWS_1 * scale + 0.5);
	if (n_rows < 1)
		n_rows = 1;
	if (n_reviews < 1)
		n_reviews = 1;

	make_customers(seed);
	make_products(seed);
	if (purchases && write_file(purchases, n_rows, seed, gen_purchases) != 0)
		return 1;
	if (reviews && write_file(reviews, n_reviews, seed, gen_reviews) != 0)
		return 1;
	return 0;
}
