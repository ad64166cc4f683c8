/* test_eio.c: unit tests of the Engine.IO / Socket.IO codecs: the packets of the protocol
 * documents' examples, batched polling payloads, empty and invalid packets, ack ids up to and
 * past 2^53-1, namespaces, and header round trips. Every parse runs on an exact-size heap copy,
 * so ASan catches a read past the end. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eio.h"
#include "check.h"

static char *copy_of(const char *s, size_t n)
{
    char *c = malloc(n ? n : 1);
    if (!c)
        abort();
    memcpy(c, s, n);
    return c;
}

/* Parses s as a Socket.IO packet and checks the result; want_nsp NULL: expect -1. */
static void sio_at(const char *s, const char *want_nsp, int type, long long id,
                   const char *want_data, int line)
{
    size_t n = strlen(s);
    char *c = copy_of(s, n);
    struct fdn_sio_packet p;
    memset(&p, 0xAB, sizeof p);
    int r = fdn_sio_parse(c, n, &p);
    char what[300];
    snprintf(what, sizeof what, "sio_parse(%s)", s);
    if (!want_nsp) {
        if (!check_at(r == -1, __FILE__, line, what))
            fprintf(stderr, "  accepted, but should not be\n");
        free(c);
        return;
    }
    int ok = r == 0 && (int)p.type == type && p.id == id && p.nsp_len == strlen(want_nsp) &&
             memcmp(p.nsp, want_nsp, p.nsp_len) == 0;
    if (want_data)
        ok = ok && p.data && p.data_len == strlen(want_data) &&
             memcmp(p.data, want_data, p.data_len) == 0 && p.data >= c &&
             p.data + p.data_len == c + n;
    else
        ok = ok && p.data == NULL && p.data_len == 0;
    if (!check_at(ok, __FILE__, line, what) && r == 0)
        fprintf(stderr, "  got type %d nsp \"%.*s\" id %lld data \"%.*s\"\n", p.type,
                (int)p.nsp_len, p.nsp, p.id, p.data ? (int)p.data_len : 6,
                p.data ? p.data : "(none)");
    free(c);
}

#define SIO(s, nsp, type, id, data) sio_at((s), (nsp), (type), (id), (data), __LINE__)
#define SIO_BAD(s) sio_at((s), NULL, 0, 0, NULL, __LINE__)

/* The packets of the Socket.IO v5 document (without the Engine.IO "4"). */
static void test_sio_examples(void)
{
    SIO("0", "/", FDN_SIO_CONNECT, FDN_SIO_NO_ID, NULL);
    SIO("0/admin,{\"sid\":\"oSO0OpakMV_3jnilAAAA\"}", "/admin", FDN_SIO_CONNECT, FDN_SIO_NO_ID,
        "{\"sid\":\"oSO0OpakMV_3jnilAAAA\"}");
    SIO("0/admin,", "/admin", FDN_SIO_CONNECT, FDN_SIO_NO_ID, NULL);
    SIO("0{\"token\":\"123\"}", "/", FDN_SIO_CONNECT, FDN_SIO_NO_ID, "{\"token\":\"123\"}");
    SIO("4{\"message\":\"Not authorized\"}", "/", FDN_SIO_CONNECT_ERROR, FDN_SIO_NO_ID,
        "{\"message\":\"Not authorized\"}");
    SIO("2[\"foo\"]", "/", FDN_SIO_EVENT, FDN_SIO_NO_ID, "[\"foo\"]");
    SIO("2/admin,[\"bar\"]", "/admin", FDN_SIO_EVENT, FDN_SIO_NO_ID, "[\"bar\"]");
    SIO("212[\"foo\"]", "/", FDN_SIO_EVENT, 12, "[\"foo\"]");
    SIO("3/admin,13[\"bar\"]", "/admin", FDN_SIO_ACK, 13, "[\"bar\"]");
    SIO("312[]", "/", FDN_SIO_ACK, 12, "[]");
    SIO("1", "/", FDN_SIO_DISCONNECT, FDN_SIO_NO_ID, NULL);
    SIO("1/admin,", "/admin", FDN_SIO_DISCONNECT, FDN_SIO_NO_ID, NULL);
    SIO("2/admin,1[\"tellme\"]", "/admin", FDN_SIO_EVENT, 1, "[\"tellme\"]");
    SIO("2[\"hey\",\"Jude\"]", "/", FDN_SIO_EVENT, FDN_SIO_NO_ID, "[\"hey\",\"Jude\"]");
    /* binary packets: not supported */
    SIO_BAD("51-[\"baz\",{\"_placeholder\":true,\"num\":0}]");
    SIO_BAD(
        "52-/admin,[\"baz\",{\"_placeholder\":true,\"num\":0},{\"_placeholder\":true,\"num\":1}]");
    SIO_BAD("61-15[\"bar\",{\"_placeholder\":true,\"num\":0}]");
    SIO_BAD("61-/admin,1[{\"_placeholder\":true,\"num\":0}]");
}

/* What Feathers' client sends: method calls with ack ids, on the main namespace. */
static void test_sio_feathers(void)
{
    SIO("2[\"x\"]", "/", FDN_SIO_EVENT, FDN_SIO_NO_ID, "[\"x\"]");
    SIO("20[\"find\",\"messages\",{}]", "/", FDN_SIO_EVENT, 0, "[\"find\",\"messages\",{}]");
    SIO("27[\"create\",\"messages\",{\"text\":\"hi\"},{}]", "/", FDN_SIO_EVENT, 7,
        "[\"create\",\"messages\",{\"text\":\"hi\"},{}]");
    SIO("007[\"x\"]", NULL, 0, 0, NULL);                  /* CONNECT must carry an object */
    SIO("2007[\"x\"]", "/", FDN_SIO_EVENT, 7, "[\"x\"]"); /* leading zeros, as Number() reads */
    SIO("3[null,{\"id\":1}]", "/", FDN_SIO_ACK, FDN_SIO_NO_ID, "[null,{\"id\":1}]");
    SIO("0/,", "/", FDN_SIO_CONNECT, FDN_SIO_NO_ID, NULL);
    SIO("2/a/b-c_d.e,5[ 1]", "/a/b-c_d.e", FDN_SIO_EVENT, 5, "[ 1]");
    SIO("2/admin,{}[\"x\"]", NULL, 0, 0, NULL);
    SIO("2/x,[\"a\",\"b,c\"]", "/x", FDN_SIO_EVENT, FDN_SIO_NO_ID, "[\"a\",\"b,c\"]");
    /* a comma inside the data, no namespace: the data is not a namespace */
    SIO("2[\"/a,b\"]", "/", FDN_SIO_EVENT, FDN_SIO_NO_ID, "[\"/a,b\"]");
}

static void test_sio_invalid(void)
{
    SIO_BAD("");
    SIO_BAD("7");
    SIO_BAD("9[\"x\"]");
    SIO_BAD("a");
    SIO_BAD("-1");
    SIO_BAD(" 2[\"x\"]");
    SIO_BAD("43 1[\"x\"]"); /* Number(" ") == 0 in JavaScript; not here */
    SIO_BAD("2 1[\"x\"]");
    SIO_BAD("2 [\"x\"]");
    SIO_BAD("2");   /* EVENT without data */
    SIO_BAD("21");  /* EVENT with an id but no data */
    SIO_BAD("2[]"); /* EVENT: a non-empty array */
    SIO_BAD("2[ \t]");
    SIO_BAD("2{}"); /* EVENT: an array, not an object */
    SIO_BAD("2\"x\"");
    SIO_BAD("2x");
    SIO_BAD("21x[\"x\"]");
    SIO_BAD("3"); /* ACK without data */
    SIO_BAD("31");
    SIO_BAD("3{}");
    SIO_BAD("0[]"); /* CONNECT: an object or nothing */
    SIO_BAD("0\"x\"");
    SIO_BAD("0/admin"); /* a namespace ends with a comma */
    SIO_BAD("2/admin[\"x\"]");
    SIO_BAD("1{}"); /* DISCONNECT: nothing */
    SIO_BAD("1[]");
    SIO_BAD("1/admin,x");
    SIO_BAD("4"); /* CONNECT_ERROR: an object */
    SIO_BAD("4\"Not authorized\"");
    SIO_BAD("4[]");
    SIO_BAD("5");
    SIO_BAD("6");
    SIO_BAD("5[\"x\"]");
    SIO_BAD("6[]");
    SIO_BAD("admin,2[\"x\"]");
    SIO_BAD("2admin,[\"x\"]");
    SIO_BAD("2,[\"x\"]");
    /* ids are digits only, no sign */
    SIO_BAD("2-1[\"x\"]");
    SIO_BAD("2+1[\"x\"]");
}

static void test_sio_ids(void)
{
    SIO("29007199254740991[\"x\"]", "/", FDN_SIO_EVENT, FDN_SIO_MAX_ID, "[\"x\"]");
    SIO("39007199254740991[]", "/", FDN_SIO_ACK, 9007199254740991LL, "[]");
    SIO("2/admin,9007199254740990[\"x\"]", "/admin", FDN_SIO_EVENT, 9007199254740990LL, "[\"x\"]");
    SIO("09007199254740991", "/", FDN_SIO_CONNECT, FDN_SIO_MAX_ID, NULL);
    SIO("20000000000000000000000000000001[\"x\"]", "/", FDN_SIO_EVENT, 1, "[\"x\"]");
    SIO_BAD("29007199254740992[\"x\"]");
    SIO_BAD("39007199254740992[]");
    SIO_BAD("299999999999999999999[\"x\"]");
    SIO_BAD("218446744073709551617[\"x\"]"); /* 2^64 + 1: no wrap */
    SIO_BAD("29223372036854775808[\"x\"]");  /* 2^63 */
    SIO_BAD("1/admin,90071992547409920");
}

static void test_sio_nsp_limit(void)
{
    char s[FDN_SIO_MAX_NSP + 16], want[FDN_SIO_MAX_NSP + 1];
    /* a namespace of exactly FDN_SIO_MAX_NSP bytes, then one more */
    s[0] = '2';
    s[1] = '/';
    memset(s + 2, 'n', FDN_SIO_MAX_NSP - 1);
    strcpy(s + 1 + FDN_SIO_MAX_NSP, ",[1]");
    memcpy(want, s + 1, FDN_SIO_MAX_NSP);
    want[FDN_SIO_MAX_NSP] = '\0';
    SIO(s, want, FDN_SIO_EVENT, FDN_SIO_NO_ID, "[1]");
    s[1 + FDN_SIO_MAX_NSP] = 'n';
    strcpy(s + 2 + FDN_SIO_MAX_NSP, ",[1]");
    SIO_BAD(s);
}

/* Splits an exact-size copy of the payload; returns the packets' count and the last result. */
static int split(const char *payload, size_t len, struct fdn_eio_packet *out, int max, int *last)
{
    char *c = copy_of(payload, len);
    size_t pos = 0;
    int n = 0, r;
    while (n < max && (r = fdn_eio_next(c, len, &pos, &out[n])) > 0) {
        CHECK(out[n].data > c && out[n].data + out[n].len <= c + len);
        CHECK(pos <= len);
        /* keep the data checkable after the copy goes: offset into the original */
        out[n].data = payload + (out[n].data - c);
        n++;
    }
    *last = r;
    free(c);
    return n;
}

#define DATA_IS(pk, s) ((pk).len == strlen(s) && memcmp((pk).data, (s), (pk).len) == 0)

static void test_eio_payloads(void)
{
    struct fdn_eio_packet p[8];
    int last;
    const char doc[] = "4hello\x1e"
                       "2\x1e"
                       "4world";
    CHECK(split(doc, sizeof doc - 1, p, 8, &last) == 3 && last == 0);
    CHECK(p[0].type == FDN_EIO_MESSAGE && DATA_IS(p[0], "hello"));
    CHECK(p[1].type == FDN_EIO_PING && DATA_IS(p[1], ""));
    CHECK(p[2].type == FDN_EIO_MESSAGE && DATA_IS(p[2], "world"));

    const char batch[] = "42[\"hello\"]\x1e"
                         "42[\"world\"]";
    CHECK(split(batch, sizeof batch - 1, p, 8, &last) == 2 && last == 0);
    CHECK(DATA_IS(p[0], "2[\"hello\"]") && DATA_IS(p[1], "2[\"world\"]"));

    /* each type once, as a single packet: what a websocket message holds */
    const char *singles[] = {"0{\"sid\":\"lv_VI97HAXpY6yYWAAAC\",\"upgrades\":[\"websocket\"]}",
                             "1",
                             "2",
                             "3",
                             "40",
                             "5",
                             "6",
                             "2probe",
                             "3probe"};
    const int types[] = {0, 1, 2, 3, 4, 5, 6, 2, 3};
    for (int i = 0; i < 9; i++) {
        size_t len = strlen(singles[i]), pos = 0;
        char *c = copy_of(singles[i], len);
        CHECK(fdn_eio_next(c, len, &pos, &p[0]) == 1 && pos == len);
        CHECK(p[0].type == (enum fdn_eio_type)types[i] && p[0].len == len - 1);
        CHECK(fdn_eio_next(c, len, &pos, &p[0]) == 0);
        free(c);
    }

    /* binary (base64) packets, unknown types and empty packets are refused where they are */
    const char bin[] = "4hello\x1e"
                       "bAQIDBA==";
    CHECK(split(bin, sizeof bin - 1, p, 8, &last) == 1 && last == -1);
    CHECK(split("b", 1, p, 8, &last) == 0 && last == -1);
    CHECK(split("7", 1, p, 8, &last) == 0 && last == -1);
    CHECK(split("x4", 2, p, 8, &last) == 0 && last == -1);
    CHECK(split("/", 1, p, 8, &last) == 0 && last == -1);
    CHECK(split("", 0, p, 8, &last) == 0 && last == -1);
    CHECK(split("\x1e", 1, p, 8, &last) == 0 && last == -1);
    CHECK(split("4a\x1e\x1e"
                "4b",
                5, p, 8, &last) == 1 &&
          last == -1);
    CHECK(split("4a\x1e", 3, p, 8, &last) == 1 && last == -1); /* an empty packet at the end */
    CHECK(split("\x1e"
                "4a",
                3, p, 8, &last) == 0 &&
          last == -1);
    /* data may hold anything but the separator, NULs included */
    CHECK(split("4a\0b\x1e"
                "3",
                6, p, 8, &last) == 2 &&
          last == 0);
    CHECK(p[0].len == 3 && memcmp(p[0].data, "a\0b", 3) == 0 && p[1].type == FDN_EIO_PONG);
    /* a position past the end reads nothing */
    size_t pos = 9;
    CHECK(fdn_eio_next("4a", 2, &pos, &p[0]) == 0 && pos == 9);
}

/* A polling payload of Socket.IO messages, split then parsed. */
static void test_eio_then_sio(void)
{
    const char payload[] = "40\x1e"
                           "41\x1e"
                           "42[\"x\"]\x1e"
                           "4212[\"get\",\"echo\",7]\x1e"
                           "42/admin,1[\"a\"]\x1e"
                           "3\x1e"
                           "43 1[\"x\"]";
    struct fdn_eio_packet p[8];
    struct fdn_sio_packet s;
    int last;
    CHECK(split(payload, sizeof payload - 1, p, 8, &last) == 7 && last == 0);
    for (int i = 0; i < 7; i++)
        CHECK(p[i].type == (i == 5 ? FDN_EIO_PONG : FDN_EIO_MESSAGE));
    CHECK(fdn_sio_parse(p[0].data, p[0].len, &s) == 0 && s.type == FDN_SIO_CONNECT && !s.data);
    CHECK(s.nsp_len == 1 && s.nsp[0] == '/' && s.id == FDN_SIO_NO_ID);
    CHECK(fdn_sio_parse(p[1].data, p[1].len, &s) == 0 && s.type == FDN_SIO_DISCONNECT);
    CHECK(fdn_sio_parse(p[2].data, p[2].len, &s) == 0 && s.type == FDN_SIO_EVENT);
    CHECK(s.id == FDN_SIO_NO_ID && s.data_len == 5 && !memcmp(s.data, "[\"x\"]", 5));
    CHECK(fdn_sio_parse(p[3].data, p[3].len, &s) == 0 && s.type == FDN_SIO_EVENT && s.id == 12);
    CHECK(s.data_len == 16 && s.data[0] == '[');
    CHECK(fdn_sio_parse(p[4].data, p[4].len, &s) == 0 && s.id == 1);
    CHECK(s.nsp_len == 6 && !memcmp(s.nsp, "/admin", 6));
    CHECK(fdn_sio_parse(p[6].data, p[6].len, &s) == -1);
}

static void header_is(enum fdn_sio_type type, const char *nsp, long long id, const char *want,
                      int line)
{
    char out[FDN_SIO_HEADER_MAX + 1];
    size_t n = fdn_sio_header(out, type, nsp, nsp ? strlen(nsp) : 0, id);
    CHECK(n <= FDN_SIO_HEADER_MAX);
    out[n <= FDN_SIO_HEADER_MAX ? n : FDN_SIO_HEADER_MAX] = '\0';
    check_str_at(out, want, __FILE__, line, "fdn_sio_header");
}

static void test_header(void)
{
    header_is(FDN_SIO_CONNECT, "/", FDN_SIO_NO_ID, "40", __LINE__);
    header_is(FDN_SIO_CONNECT, NULL, FDN_SIO_NO_ID, "40", __LINE__);
    header_is(FDN_SIO_CONNECT, "/admin", FDN_SIO_NO_ID, "40/admin,", __LINE__);
    header_is(FDN_SIO_DISCONNECT, "/", FDN_SIO_NO_ID, "41", __LINE__);
    header_is(FDN_SIO_EVENT, "/", FDN_SIO_NO_ID, "42", __LINE__);
    header_is(FDN_SIO_EVENT, "/", 0, "420", __LINE__);
    header_is(FDN_SIO_ACK, "/", 12, "4312", __LINE__);
    header_is(FDN_SIO_ACK, "/admin", 13, "43/admin,13", __LINE__);
    header_is(FDN_SIO_CONNECT_ERROR, "/", FDN_SIO_NO_ID, "44", __LINE__);
    header_is(FDN_SIO_ACK, "/", FDN_SIO_MAX_ID, "439007199254740991", __LINE__);
    header_is(FDN_SIO_ACK, "/", 9223372036854775807LL, "439223372036854775807", __LINE__);

    /* round trips: header + data parses back to the same packet */
    const char *nsps[] = {"/", "/admin"};
    const long long ids[] = {FDN_SIO_NO_ID, 0, 1, 12, FDN_SIO_MAX_ID};
    const char *datas[] = {"{\"sid\":\"x\"}", "", "[\"a\"]", "[]", "{\"message\":\"no\"}"};
    for (int t = FDN_SIO_CONNECT; t <= FDN_SIO_CONNECT_ERROR; t++)
        for (int k = 0; k < 2; k++)
            for (int j = 0; j < 5; j++) {
                char buf[FDN_SIO_HEADER_MAX + 32];
                size_t n =
                    fdn_sio_header(buf, (enum fdn_sio_type)t, nsps[k], strlen(nsps[k]), ids[j]);
                CHECK(buf[0] == '4');
                memcpy(buf + n, datas[t], strlen(datas[t]));
                n += strlen(datas[t]);
                struct fdn_sio_packet s;
                char *c = copy_of(buf + 1, n - 1);
                if (CHECK(fdn_sio_parse(c, n - 1, &s) == 0)) {
                    CHECK(s.type == (enum fdn_sio_type)t && s.id == ids[j]);
                    CHECK(s.nsp_len == strlen(nsps[k]) && !memcmp(s.nsp, nsps[k], s.nsp_len));
                    CHECK(s.data_len == strlen(datas[t]));
                }
                free(c);
            }
    /* the longest header fits */
    char nsp[FDN_SIO_MAX_NSP + 1];
    memset(nsp, 'n', sizeof nsp);
    nsp[0] = '/';
    char out[FDN_SIO_HEADER_MAX];
    CHECK(fdn_sio_header(out, FDN_SIO_ACK, nsp, FDN_SIO_MAX_NSP, 9223372036854775807LL) ==
          2 + FDN_SIO_MAX_NSP + 1 + 19);
}

int main(void)
{
    test_sio_examples();
    test_sio_feathers();
    test_sio_invalid();
    test_sio_ids();
    test_sio_nsp_limit();
    test_eio_payloads();
    test_eio_then_sio();
    test_header();
    return check_summary("test_eio");
}
