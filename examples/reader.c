/* reader.c - print dnstap files as text.

   A small stand-in for golang-dnstap's `dnstap -r`, for machines where a
   multi-megabyte Go binary does not fit. It reads a dnstap file (Frame
   Streams, unidirectional: START, data frames, STOP), decodes every Dnstap
   message with dnstap.h and prints it (live streams: the dtap tool,
   examples/dtap.c, receives them with capture.c and prints them with this
   file):

     -y  YAML (default), the same fields and layout as `dnstap -r FILE -y`,
         with the DNS messages in dig style exactly as golang-dnstap prints
         them through miekg/dns (header, flags and counts, EDNS OPT
         pseudosection, QUESTION/ANSWER/AUTHORITY/ADDITIONAL sections)
     -j  one JSON object per line, like `dnstap -j`
     -q  one line per message, like `dnstap -q`

   It also prints what golang-dnstap leaves out: `extra`, `http_protocol`,
   `policy`, and for a DNS message that cannot be parsed, after golang's
   "parse failed" comment, its bytes as `query_message_hex` /
   `response_message_hex`. Socket protocols golang does not know
   (DNSCrypt, DoQ) are numbers as in golang's output, named in a YAML
   comment. An address that ends in ':' ("2001:db8::") is quoted, so that
   the output stays YAML (golang's does not). In JSON, absent fields are
   left out (golang writes "<nil>" for a missing socket_family/protocol)
   and a port 0 is printed.

   The DNS parser is written for hostile input: every read is bounds-checked
   against the message (and, inside a record, against its RDATA), names
   follow at most 126 compression pointers and 255 octets, nothing is
   allocated. It accepts and rejects exactly what miekg/dns 1.1.50 (the
   version in Debian 12's dnstap) does, so "parse failed" lines agree too.
   Record types with their own text form, all that miekg/dns 1.1.50 has:
   A NS MD MF CNAME SOA MB MG MR NULL PTR HINFO MINFO MX TXT RP AFSDB X25 RT
   NSAP-PTR SIG KEY PX GPOS AAAA LOC EID NIMLOC SRV NAPTR KX CERT DNAME APL DS
   SSHFP RRSIG NSEC DNSKEY DHCID NSEC3 NSEC3PARAM TLSA SMIMEA HIP NINFO RKEY
   TALINK CDS CDNSKEY OPENPGPKEY CSYNC ZONEMD SVCB HTTPS SPF UINFO UID GID NID
   L32 L64 LP EUI48 EUI64 TKEY TSIG ANY URI CAA AVC TA DLV; any other type in
   RFC 3597 form (`name ttl CLASSn TYPEn \# len hex`).

   A file must begin with START: one with READY first (a bidirectional
   handshake recorded raw) is refused, as fstrm_dump and `dnstap -r` refuse
   it; -L (lenient) reads it anyway.

   Build:  cc -std=c99 -O2 -I. examples/reader.c -o reader -lprotobuf-nanopb
   Run:    reader [-y|-j|-q] [-L] FILE...    ("-" reads standard input)
   Exit status: 0; 1 if an input was broken (bad frame, no STOP at the end,
   undecodable message); 2 for usage errors.
   examples/dtap.c includes this file with -DREADER_EMBEDDED (no main()) and
   may route each data frame elsewhere with READER_ON_DATA. */
#define DNSTAP_IMPLEMENTATION
#define DNSTAP_NO_NANOPB_ENCODE
#include "../dnstap.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#ifndef READER_FRAME_MAX
#define READER_FRAME_MAX DNSTAP_PAYLOAD_MAX_FSTRM  /* largest data frame accepted */
#endif

/* ======================================================================
   Output: a buffer on stdout and a sink that formats text for YAML block
   scalars (indent, trailing whitespace trimmed) or JSON strings.
   ====================================================================== */
#ifndef READER_PROGRAM
#define READER_PROGRAM "reader"   /* the name in messages (examples/dtap.c: "dtap") */
#endif
static char obuf[16384];
static size_t olen;
static int out_failed;             /* a write to stdout failed: said once, exit status 1 */
/* A signal that interrupts a write (SIGTERM while the output blocks) is
   no failure of the output: the write goes on, and capture.c's time
   limit ends a wait that never would. */
static void ofailed(void) {
    if (!out_failed) fprintf(stderr, READER_PROGRAM ": writing the output: %s\n", strerror(errno));
    out_failed = 1;
}
static void owrite(void) {
    size_t done = 0;
    while (done < olen && !out_failed) {
        done += fwrite(obuf + done, 1, olen - done, stdout);
        if (done < olen) {
            if (errno != EINTR) ofailed();
            clearerr(stdout);
        }
    }
    olen = 0;
}
static void oflush(void) {
    owrite();
    while (!out_failed && fflush(stdout) != 0) {
        if (errno != EINTR) ofailed();
        clearerr(stdout);
    }
}
static void oc(char c) {
    if (olen == sizeof obuf) owrite();
    obuf[olen++] = c;
}
static void os_(const char *s) { while (*s) oc(*s++); }

enum { S_RAW, S_YAML, S_JSON };
static int smode;       /* how emit() formats */
static int mute;        /* > 0: emit() discards (the validating pass) */
static char pend[256];  /* S_YAML: whitespace held back until more text follows */
static size_t npend;

static void yaml_c(char c) {
    oc(c);
    if (c == '\n') os_("    ");
}

static const char hexl[] = "0123456789abcdef", hexu[] = "0123456789ABCDEF";

/* Go's UTF-8 decoding: width of a valid sequence at p (0 if invalid). */
static size_t utf8_dec(const uint8_t *p, size_t n, uint32_t *cp) {
    uint8_t c = p[0], lo = 0x80, hi = 0xBF;
    size_t w, i;
    if (c < 0x80) { *cp = c; return 1; }
    if (c >= 0xC2 && c <= 0xDF) { w = 2; *cp = c & 0x1Fu; }
    else if (c >= 0xE0 && c <= 0xEF) {
        w = 3; *cp = c & 0x0Fu;
        if (c == 0xE0) lo = 0xA0;
        if (c == 0xED) hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        w = 4; *cp = c & 0x07u;
        if (c == 0xF0) lo = 0x90;
        if (c == 0xF4) hi = 0x8F;
    } else return 0;
    if (n < w) return 0;
    for (i = 1; i < w; i++) {
        uint8_t b = p[i];
        if (b < (i == 1 ? lo : 0x80) || b > (i == 1 ? hi : 0xBF)) return 0;
        *cp = (*cp << 6) | (b & 0x3Fu);
    }
    return w;
}

/* JSON string contents as Go 1.19's encoding/json writes them. */
static void json_esc(const uint8_t *p, size_t n) {
    size_t i = 0;
    while (i < n) {
        uint32_t cp;
        size_t w;
        uint8_t c = p[i];
        if (c < 0x80) {
            if (c == '"' || c == '\\') { oc('\\'); oc((char)c); }
            else if (c == '\n') os_("\\n");
            else if (c == '\r') os_("\\r");
            else if (c == '\t') os_("\\t");
            else if (c < 0x20 || c == '<' || c == '>' || c == '&') {
                os_("\\u00"); oc(hexl[c >> 4]); oc(hexl[c & 15]);
            } else oc((char)c);
            i++;
            continue;
        }
        w = utf8_dec(p + i, n - i, &cp);
        if (w == 0) { os_("\\ufffd"); i++; continue; }
        if (cp == 0x2028 || cp == 0x2029) { os_("\\u202"); oc(hexl[cp & 15]); }
        else { size_t k; for (k = 0; k < w; k++) oc((char)p[i + k]); }
        i += w;
    }
}

static void emit(const char *s, size_t n) {
    size_t i;
    if (mute) return;
    if (smode == S_RAW) { for (i = 0; i < n; i++) oc(s[i]); return; }
    if (smode == S_JSON) { json_esc((const uint8_t *)s, n); return; }
    for (i = 0; i < n; i++) {
        char c = s[i];
        if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f') {
            if (npend == sizeof pend) { size_t k; for (k = 0; k < npend; k++) yaml_c(pend[k]); npend = 0; }
            pend[npend++] = c;
        } else {
            size_t k;
            for (k = 0; k < npend; k++) yaml_c(pend[k]);
            npend = 0;
            yaml_c(c);
        }
    }
}
static void emits(const char *s) { emit(s, strlen(s)); }
static void emitc(char c) { emit(&c, 1); }

static void emitu(uint64_t v) {
    char b[24];
    size_t i = sizeof b;
    do { b[--i] = (char)('0' + v % 10); v /= 10; } while (v);
    emit(b + i, sizeof b - i);
}
/* v zero-padded to width digits */
static void emitw(uint64_t v, int width) {
    char b[24];
    size_t i = sizeof b;
    do { b[--i] = (char)('0' + v % 10); v /= 10; width--; } while (v || width > 0);
    emit(b + i, sizeof b - i);
}
static void emit_hex(const uint8_t *p, size_t n, int upper) {
    const char *h = upper ? hexu : hexl;
    size_t i;
    for (i = 0; i < n; i++) { char b[2]; b[0] = h[p[i] >> 4]; b[1] = h[p[i] & 15]; emit(b, 2); }
}
static void emit_b64(const uint8_t *p, size_t n) {
    static const char t[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t i;
    for (i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16;
        char b[4];
        if (i + 1 < n) v |= (uint32_t)p[i + 1] << 8;
        if (i + 2 < n) v |= p[i + 2];
        b[0] = t[v >> 18]; b[1] = t[(v >> 12) & 63];
        b[2] = i + 1 < n ? t[(v >> 6) & 63] : '=';
        b[3] = i + 2 < n ? t[v & 63] : '=';
        emit(b, 4);
    }
}
/* base32 "extended hex" alphabet, no padding (NSEC3 next hashed owner) */
static void emit_b32(const uint8_t *p, size_t n) {
    static const char t[] = "0123456789ABCDEFGHIJKLMNOPQRSTUV";
    uint32_t acc = 0;
    int bits = 0;
    size_t i;
    for (i = 0; i < n; i++) {
        acc = (acc << 8) | p[i];
        bits += 8;
        while (bits >= 5) { bits -= 5; emitc(t[(acc >> bits) & 31]); }
        acc &= 0xFFu;   /* at most 4 bits still needed */
    }
    if (bits > 0) emitc(t[(acc << (5 - bits)) & 31]);
}
/* \DDD, as miekg/dns escapes a byte */
static void emit_ddd(uint8_t b) {
    char s[4];
    s[0] = '\\'; s[1] = (char)('0' + b / 100); s[2] = (char)('0' + b / 10 % 10); s[3] = (char)('0' + b % 10);
    emit(s, 4);
}
/* a <character-string> as unpackString + sprintTxt leave it */
static void emit_txt(const uint8_t *p, size_t n) {
    size_t i;
    for (i = 0; i < n; i++) {
        uint8_t b = p[i];
        if (b == '"' || b == '\\') { char s[2]; s[0] = '\\'; s[1] = (char)b; emit(s, 2); }
        else if (b < ' ' || b > '~') emit_ddd(b);
        else emitc((char)b);
    }
}

/* Go's net.IP.String(). */
static size_t ip_str(const uint8_t *p, size_t n, char *o) {
    size_t k = 0, i;
    if (n == 0) { memcpy(o, "<nil>", 5); return 5; }
    if (n == 16) {
        for (i = 0; i < 10 && p[i] == 0; i++) {}
        if (i == 10 && p[10] == 0xff && p[11] == 0xff) { p += 12; n = 4; }
    }
    if (n == 4) {
        for (i = 0; i < 4; i++) {
            unsigned v = p[i];
            if (i) o[k++] = '.';
            if (v >= 100) o[k++] = (char)('0' + v / 100);
            if (v >= 10) o[k++] = (char)('0' + v / 10 % 10);
            o[k++] = (char)('0' + v % 10);
        }
        return k;
    }
    if (n != 16) {   /* "?" + hex (longer ones: emit_odd_ip()) */
        o[k++] = '?';
        for (i = 0; i < n && i < 16; i++) { o[k++] = hexl[p[i] >> 4]; o[k++] = hexl[p[i] & 15]; }
        return k;
    }
    {
        int e0 = -1, e1 = -1, a, b;
        for (a = 0; a < 16; a += 2) {
            b = a;
            while (b < 16 && p[b] == 0 && p[b + 1] == 0) b += 2;
            if (b > a && b - a > e1 - e0) { e0 = a; e1 = b; a = b; }
        }
        if (e1 - e0 <= 2) e0 = e1 = -1;
        for (a = 0; a < 16; a += 2) {
            unsigned v = ((unsigned)p[a] << 8) | p[a + 1];
            int sh, started = 0;
            if (a == e0) {
                o[k++] = ':'; o[k++] = ':';
                a = e1;
                if (a >= 16) break;
                v = ((unsigned)p[a] << 8) | p[a + 1];
            } else if (a > 0) o[k++] = ':';
            for (sh = 12; sh >= 0; sh -= 4) {
                unsigned d = (v >> sh) & 15;
                if (d || started || sh == 0) { o[k++] = hexl[d]; started = 1; }
            }
        }
        return k;
    }
}
/* An address of another length than 4 or 16: "?" and all its hex, as
   golang's net.IP prints it (ip_str() has room for 16 bytes). */
static void emit_odd_ip(const uint8_t *p, size_t n) {
    size_t i;
    emitc('?');
    for (i = 0; i < n; i++) { emitc(hexl[p[i] >> 4]); emitc(hexl[p[i] & 15]); }
}

static void emit_ip(const uint8_t *p, size_t n) {
    char b[64];
    if (n > 16) { emit_odd_ip(p, n); return; }
    emit(b, ip_str(p, n, b));
}

/* UTC civil time of a Unix time, as Go's time.Unix(sec, nsec).UTC(): the
   seconds as int64, counted (as Go does, in uint64, wrapping) from the
   year -292277022399, then split into 400-, 100-, 4- and 1-year cycles. */
typedef struct { int64_t y; unsigned mo, d, h, mi, s; uint32_t ns; } civil_t;
static civil_t civil(uint64_t usec, uint32_t nsec) {
    static const uint16_t before[13] = { 0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334, 365 };
    const uint64_t abs = usec + nsec / 1000000000u + 9223372028715321600u;   /* Unix to absolute */
    uint64_t d = abs / 86400, sod = abs % 86400, n, y;
    unsigned day, month, begin;
    civil_t c;
    c.ns = nsec % 1000000000u;
    n = d / 146097; y = 400 * n; d -= 146097 * n;
    n = d / 36524; n -= n >> 2; y += 100 * n; d -= 36524 * n;
    n = d / 1461; y += 4 * n; d -= 1461 * n;
    n = d / 365; n -= n >> 2; y += n; d -= 365 * n;
    c.y = (int64_t)y - 292277022399;
    day = (unsigned)d;
    c.h = (unsigned)(sod / 3600); c.mi = (unsigned)(sod / 60 % 60); c.s = (unsigned)(sod % 60);
    if (c.y % 4 == 0 && (c.y % 100 != 0 || c.y % 400 == 0)) {   /* leap: February 29 */
        if (day == 59) { c.mo = 2; c.d = 29; return c; }
        if (day > 59) day--;
    }
    month = day / 31;
    if (day >= before[month + 1]) month++;
    begin = before[month];
    c.mo = month + 1;
    c.d = day - begin + 1;
    return c;
}
/* "2006-01-02 15:04:05.999999999" (sep ' ') or RFC 3339 with 'T' ... 'Z' */
static void emit_time(uint64_t sec, uint32_t nsec, char sep) {
    civil_t c = civil(sec, nsec);
    if (c.y < 0) { emitc('-'); emitw((uint64_t)(-(c.y + 1)) + 1, 4); } else emitw((uint64_t)c.y, 4);
    emitc('-'); emitw(c.mo, 2); emitc('-'); emitw(c.d, 2); emitc(sep);
    emitw(c.h, 2); emitc(':'); emitw(c.mi, 2); emitc(':'); emitw(c.s, 2);
    if (c.ns) {
        char f[10];
        int n = 9;
        uint32_t v = c.ns, i;
        for (i = 9; i-- > 0;) { f[i + 1] = (char)('0' + v % 10); v /= 10; }
        f[0] = '.';
        while (f[n] == '0') n--;
        emit(f, (size_t)n + 1);
    }
    if (sep == 'T') emitc('Z');
}

/* strconv.Quote(): printable runes as they are, the rest escaped. Which
   non-ASCII runes Go deems unprintable is approximated (controls, spaces
   other than ' ', format and private-use characters). */
static int rune_printable(uint32_t r) {
    if (r < 0x20 || (r >= 0x7F && r <= 0xA0) || r == 0xAD) return 0;
    if (r == 0x1680 || (r >= 0x2000 && r <= 0x200F) || (r >= 0x2028 && r <= 0x202F)) return 0;
    if ((r >= 0x205F && r <= 0x206F) || r == 0x3000 || r == 0xFEFF) return 0;
    if ((r >= 0xE000 && r <= 0xF8FF) || (r >= 0xFFF9 && r <= 0xFFFB) || r >= 0xF0000) return 0;
    if ((r & 0xFFFE) == 0xFFFE) return 0;
    return 1;
}
static void emit_quote(const uint8_t *p, size_t n) {
    size_t i = 0;
    emitc('"');
    while (i < n) {
        uint32_t r;
        size_t w = utf8_dec(p + i, n - i, &r);
        if (w == 0) { emits("\\x"); emit(&hexl[p[i] >> 4], 1); emit(&hexl[p[i] & 15], 1); i++; continue; }
        if (r == '"' || r == '\\') { emitc('\\'); emitc((char)r); }
        else if (rune_printable(r)) emit((const char *)p + i, w);
        else if (r == '\a') emits("\\a");
        else if (r == '\b') emits("\\b");
        else if (r == '\f') emits("\\f");
        else if (r == '\n') emits("\\n");
        else if (r == '\r') emits("\\r");
        else if (r == '\t') emits("\\t");
        else if (r == '\v') emits("\\v");
        else if (r < ' ' || r == 0x7F) { emits("\\x"); emit(&hexl[r >> 4], 1); emit(&hexl[r & 15], 1); }
        else {
            int sh = r < 0x10000 ? 12 : 28;
            emits(r < 0x10000 ? "\\u" : "\\U");
            for (; sh >= 0; sh -= 4) emit(&hexl[(r >> sh) & 15], 1);
        }
        i += w;
    }
    emitc('"');
}

/* ======================================================================
   DNS messages, unpacked and printed as miekg/dns 1.1.50 does. Every
   function parses and prints in one go; the caller first runs it muted to
   validate the whole message, then again to print it.
   ====================================================================== */
static const char E_BUF[] = "dns: buffer size too small";
static const char E_LONG[] = "dns: domain name exceeded 255 wire-format octets";
static const char E_PTR[] = "dns: too many compression pointers";
static const char E_RDATA[] = "dns: bad rdata";
static const char E_U8[] = "dns: overflow unpacking uint8";
static const char E_U16[] = "dns: overflow unpacking uint16";
static const char E_U32[] = "dns: overflow unpacking uint32";
static const char E_TXT[] = "dns: overflow unpacking txt";
static const char E_HDR[] = "dns: overflowing header size";
static const char E_RDLEN[] = "dns: bad rdlength";
static const char E_OPT[] = "dns: overflow unpacking opt";
static const char E_SVCB[] = "dns: overflow unpacking SVCB";
static const char RR_END[] = "end";   /* the message ends where a record would start */
static char errbuf[80];

static uint16_t be16(const uint8_t *p) { return (uint16_t)((p[0] << 8) | p[1]); }
static uint32_t be32(const uint8_t *p) {
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

static const struct { uint16_t t; char n[11]; } tname[] = {
    {0, "None"}, {1, "A"}, {2, "NS"}, {3, "MD"}, {4, "MF"}, {5, "CNAME"}, {6, "SOA"}, {7, "MB"},
    {8, "MG"}, {9, "MR"}, {10, "NULL"}, {12, "PTR"}, {13, "HINFO"}, {14, "MINFO"}, {15, "MX"},
    {16, "TXT"}, {17, "RP"}, {18, "AFSDB"}, {19, "X25"}, {20, "ISDN"}, {21, "RT"}, {23, "NSAP-PTR"},
    {24, "SIG"}, {25, "KEY"}, {26, "PX"}, {27, "GPOS"}, {28, "AAAA"}, {29, "LOC"}, {30, "NXT"},
    {31, "EID"}, {32, "NIMLOC"}, {33, "SRV"}, {34, "ATMA"}, {35, "NAPTR"}, {36, "KX"}, {37, "CERT"},
    {39, "DNAME"}, {41, "OPT"}, {42, "APL"}, {43, "DS"}, {44, "SSHFP"}, {46, "RRSIG"}, {47, "NSEC"},
    {48, "DNSKEY"}, {49, "DHCID"}, {50, "NSEC3"}, {51, "NSEC3PARAM"}, {52, "TLSA"}, {53, "SMIMEA"},
    {55, "HIP"}, {56, "NINFO"}, {57, "RKEY"}, {58, "TALINK"}, {59, "CDS"}, {60, "CDNSKEY"},
    {61, "OPENPGPKEY"}, {62, "CSYNC"}, {63, "ZONEMD"}, {64, "SVCB"}, {65, "HTTPS"}, {99, "SPF"},
    {100, "UINFO"}, {101, "UID"}, {102, "GID"}, {103, "UNSPEC"}, {104, "NID"}, {105, "L32"},
    {106, "L64"}, {107, "LP"}, {108, "EUI48"}, {109, "EUI64"}, {249, "TKEY"}, {250, "TSIG"},
    {251, "IXFR"}, {252, "AXFR"}, {253, "MAILB"}, {254, "MAILA"}, {255, "ANY"}, {256, "URI"},
    {257, "CAA"}, {258, "AVC"}, {32768, "TA"}, {32769, "DLV"}, {65535, "Reserved"}
};
static void emit_type(uint16_t t) {
    size_t i;
    for (i = 0; i < sizeof tname / sizeof tname[0]; i++)
        if (tname[i].t == t) { emits(tname[i].n); return; }
    emits("TYPE"); emitu(t);
}
static void emit_class(uint16_t c) {
    static const char *const n[5] = { "IN", "CS", "CH", "HS" };
    if (c >= 1 && c <= 4) emits(n[c - 1]);
    else if (c == 254) emits("NONE");
    else { emits("CLASS"); emitu(c); }   /* 255 too: "ANY" is also a type */
}

/* RDATA layouts, one letter per field, in wire order:
   1 2 4 uint8/16/32   L uint8 length of the next field (not printed)
   T uint16 type name  E uint32 RRSIG time  n domain name
   s "character-string" S character-string without quotes
   t character-strings to the end (TXT)   a IPv4   6 IPv6
   h H hex to the end (lower/upper case)  z hex split every 1024 digits
   b base64 to the end   o octets to the end, quoted (CAA value, URI)
   x hex of length L ("-" if empty)   y base32hex of length L
   m NSEC type bitmap    p SVCB key=value pairs    r raw octets to the end
   q Q uint64 as xxxx:xxxx:xxxx:xxxx (lower/upper)   w W EUI-48/EUI-64
   C uint16 certificate type   G uint8 DNSSEC algorithm (name or number)
   M uint16 length (not printed)   K uint16 length, printed
   X j B hex upper/hex lower/base64 of the length given by the first
   unused L/M/K ('x' and 'y' too)   N domain names to the end
   Z uint48 time (TSIG)   A APL address prefixes to the end
   + a space before the first field too
   NULL and TKEY records start with ';', TSIG with a pseudosection title,
   LOC has its own layout */
static const struct { uint16_t t; char spec[12]; } rrspec[] = {   /* spec: at most 11 letters */
    {1, "a"}, {2, "n"}, {10, "r"}, {29, "1111444"}, {37, "C2Gb"}, {104, "2q"}, {105, "2a"}, {106, "2Q"},
    {107, "2n"}, {108, "w"}, {109, "W"}, {255, ""}, {55, "L1MjBN"}, {42, "A"}, {249, "+nEE22KjKj"},
    {250, "+nZ2KX22Kj"}, {3, "n"}, {4, "n"}, {5, "n"}, {6, "nn44444"}, {7, "n"}, {8, "n"}, {9, "n"},
    {12, "n"}, {13, "ss"}, {14, "nn"}, {15, "2n"}, {16, "t"}, {17, "nn"}, {18, "2n"}, {19, "S"},
    {21, "2n"}, {23, "n"}, {24, "T114EE2nb"}, {25, "211b"}, {26, "2nn"}, {27, "SSS"}, {28, "6"},
    {31, "H"}, {32, "H"}, {33, "222n"}, {35, "22sssn"}, {36, "2n"}, {39, "n"}, {43, "211H"},
    {44, "11H"}, {46, "T114EE2nb"}, {47, "nm"}, {48, "211b"}, {49, "b"}, {50, "112LxLym"},
    {51, "112Lx"}, {52, "111h"}, {53, "111z"}, {56, "t"}, {57, "211b"}, {58, "nn"}, {59, "211H"},
    {60, "211b"}, {61, "b"}, {62, "42m"}, {63, "411h"}, {64, "2np"}, {65, "2np"}, {99, "t"},
    {100, "s"}, {101, "4"}, {102, "4"}, {256, "22o"}, {257, "1So"}, {258, "t"}, {32768, "211H"},
    {32769, "211H"}
};

/* A domain name at m[*off] inside m[0..lim), in presentation form into
   t[NAME_TXT]. Follows compression pointers anywhere before lim, at most
   126 of them, and at most 255 octets of labels: bounded work. *off moves
   past the name (past its first pointer). */
#define NAME_TXT 1024
static const char *dname(const uint8_t *m, size_t lim, size_t *off, char *t, size_t *tl) {
    size_t o = *off, o1 = 0, n = 0;
    int budget = 255, ptrs = 0;
    for (;;) {
        size_t c, i;
        if (o >= lim) return E_BUF;
        c = m[o++];
        if (c == 0) break;
        if ((c & 0xC0) == 0) {
            if (c > lim - o) return E_BUF;
            budget -= (int)c + 1;
            if (budget <= 0) return E_LONG;
            for (i = 0; i < c; i++) {
                uint8_t b = m[o + i];
                switch (b) {
                case '.': case ' ': case '\'': case '@': case ';': case '(': case ')': case '"': case '\\':
                    t[n++] = '\\'; t[n++] = (char)b; break;
                default:
                    if (b < ' ' || b > '~') {
                        t[n++] = '\\'; t[n++] = (char)('0' + b / 100);
                        t[n++] = (char)('0' + b / 10 % 10); t[n++] = (char)('0' + b % 10);
                    } else t[n++] = (char)b;
                }
            }
            t[n++] = '.';
            o += c;
        } else if ((c & 0xC0) == 0xC0) {
            if (o >= lim) return E_BUF;
            c = ((c & 0x3F) << 8) | m[o++];
            if (ptrs == 0) o1 = o;
            if (++ptrs > 126) return E_PTR;
            o = c;
        } else return E_RDATA;
    }
    if (ptrs == 0) o1 = o;
    if (n == 0) t[n++] = '.';
    *off = o1;
    *tl = n;
    return NULL;
}
static const char *name_do(const uint8_t *m, size_t lim, size_t *off) {
    char t[NAME_TXT];
    size_t n;
    const char *e = dname(m, lim, off, t, &n);
    if (!e) emit(t, n);
    return e;
}

/* RRSIG times, with RFC 1982 serial arithmetic like miekg's TimeToString */
static void emit_sigtime(uint32_t t) {
    int64_t mod = ((int64_t)t - (int64_t)time(NULL)) / 2147483648LL - 1;
    civil_t c;
    if (mod < 0) mod = 0;
    c = civil((uint64_t)((int64_t)t - mod * 2147483648LL), 0);
    emitw((uint64_t)c.y, 4); emitw(c.mo, 2); emitw(c.d, 2); emitw(c.h, 2); emitw(c.mi, 2); emitw(c.s, 2);
}

/* sprintTxtOctet: raw octets re-read as zone-file text, then escaped */
static void emit_octet(const uint8_t *s, size_t n) {
    size_t i = 0;
    emitc('"');
    while (i < n) {
        uint8_t b;
        size_t w;
        if (i + 1 < n && s[i] == '\\' && s[i + 1] == '.') { emit((const char *)s + i, 2); i += 2; continue; }
        if (s[i] != '\\') { b = s[i]; w = 1; }
        else if (n - i == 1) { i++; continue; }   /* dangling backslash */
        else if (n - i >= 4 && s[i + 1] >= '0' && s[i + 1] <= '9' && s[i + 2] >= '0' && s[i + 2] <= '9' &&
                 s[i + 3] >= '0' && s[i + 3] <= '9') {
            b = (uint8_t)((s[i + 1] - '0') * 100 + (s[i + 2] - '0') * 10 + (s[i + 3] - '0'));
            w = 4;
        } else { b = s[i + 1]; w = 2; }
        emit_txt(&b, 1);
        i += w;
    }
    emitc('"');
}

static void emit_svcb_key(uint16_t k) {
    static const char *const n[8] = { "mandatory", "alpn", "no-default-alpn", "port", "ipv4hint", "ech",
                                      "ipv6hint", "dohpath" };
    if (k < 8) emits(n[k]);
    else if (k != 65535) { emits("key"); emitu(k); }
}
static int v4mapped(const uint8_t *p) {
    static const uint8_t pre[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
    return memcmp(p, pre, 12) == 0;
}

/* SVCB/HTTPS SvcParams: " key=\"value\"" each */
static const char *svcb_do(const uint8_t *m, size_t *off, size_t lim) {
    size_t o = *off, i;
    long prev = -1;
    while (o < lim) {
        uint16_t key, vl;
        const uint8_t *v;
        if (lim - o < 2) return E_SVCB;
        key = be16(m + o); o += 2;
        if (lim - o < 2) return E_SVCB;
        vl = be16(m + o); o += 2;
        if (vl > lim - o) return E_SVCB;
        v = m + o;
        if (key == 65535) return "dns: bad SVCB key";
        switch (key) {
        case 0: if (vl % 2) return "dns: svcbmandatory: value length is not a multiple of 2"; break;
        case 1:
            for (i = 0; i < vl;) {
                size_t l = v[i++];
                if (l > vl - i) return "dns: svcbalpn: alpn array overflowing";
                i += l;
            }
            break;
        case 2: if (vl) return "dns: svcbnodefaultalpn: no-default-alpn must have no value"; break;
        case 3: if (vl != 2) return "dns: svcbport: port length is not exactly 2 octets"; break;
        case 4:
            if (vl == 0 || vl % 4) return "dns: svcbipv4hint: ipv4 address byte array length is not a multiple of 4";
            break;
        case 6:
            if (vl == 0 || vl % 16) return "dns: svcbipv6hint: ipv6 address byte array length not a multiple of 16";
            for (i = 0; i < vl; i += 16)
                if (v4mapped(v + i)) return "dns: svcbipv6hint: expected ipv6, got ipv4";
            break;
        default: break;
        }
        if (prev >= 0 && key <= prev) return "dns: SVCB keys not in strictly increasing order";
        prev = key;
        emitc(' '); emit_svcb_key(key); emits("=\"");
        switch (key) {
        case 0:
            for (i = 0; i < vl; i += 2) { if (i) emitc(','); emit_svcb_key(be16(v + i)); }
            break;
        case 1: {
            size_t j = 0, l;
            for (i = 0; i < vl; i += l) {
                l = v[i++];
                if (j++) emitc(',');
                for (l += i; i < l; i++) {
                    uint8_t c = v[i];
                    if (c < ' ' || c > '~') emit_ddd(c);
                    else if (c == '"' || c == ';' || c == ' ') { emitc('\\'); emitc((char)c); }
                    else if (c == ',') emits("\\\\\\044");
                    else if (c == '\\') emits("\\\\\\092");
                    else emitc((char)c);
                }
                l = 0;
            }
            break;
        }
        case 2: break;
        case 3: emitu(be16(v)); break;
        case 4: case 6:
            for (i = 0; i < vl; i += key == 4 ? 4u : 16u) { if (i) emitc(','); emit_ip(v + i, key == 4 ? 4u : 16u); }
            break;
        case 5: emit_b64(v, vl); break;
        default:   /* dohpath, keyNNNNN */
            for (i = 0; i < vl; i++) {
                uint8_t c = v[i];
                if (c < ' ' || c > '~') emit_ddd(c);
                else { if (c == '"' || c == ';' || c == ' ' || c == '\\') emitc('\\'); emitc((char)c); }
            }
        }
        emitc('"');
        o += vl;
    }
    *off = o;
    return NULL;
}

/* NSEC/NSEC3/CSYNC type bitmap: " TYPE" each */
static const char *nsec_do(const uint8_t *m, size_t *off, size_t lim) {
    size_t o = *off;
    int last = -1;
    while (o < lim) {
        unsigned win, len, j, b;
        if (lim - o < 2) return "dns: overflow unpacking NSEC(3)";
        win = m[o]; len = m[o + 1]; o += 2;
        if ((int)win <= last) return "dns: out of order NSEC(3) block in type bitmap";
        if (len == 0) return "dns: empty NSEC(3) block in type bitmap";
        if (len > 32) return "dns: NSEC(3) block too long in type bitmap";
        if (len > lim - o) return "dns: overflowing NSEC(3) block in type bitmap";
        for (j = 0; j < len; j++)
            for (b = 0; b < 8; b++)
                if (m[o + j] & (0x80u >> b)) { emitc(' '); emit_type((uint16_t)(win * 256 + j * 8 + b)); }
        o += len;
        last = (int)win;
    }
    *off = o;
    return NULL;
}

static const char *const alg_name[17] = { 0, "RSAMD5", "DH", "DSA", 0, "RSASHA1", "DSA-NSEC3-SHA1",
    "RSASHA1-NSEC3-SHA1", "RSASHA256", 0, "RSASHA512", 0, "ECC-GOST", "ECDSAP256SHA256",
    "ECDSAP384SHA384", "ED25519", "ED448" };
static const char *alg_str(uint8_t a) {
    return a < 17 ? alg_name[a] : a == 252 ? "INDIRECT" : a == 253 ? "PRIVATEDNS" : a == 254 ? "PRIVATEOID" : NULL;
}
static void emit_alg(uint8_t a) {
    const char *s = alg_str(a);
    if (s) emits(s); else emitu(a);
}
static void emit_certtype(uint16_t t) {
    static const char *const n[8] = { "PKIX", "SPKI", "PGP", "IPIX", "ISPKI", "IPGP", "ACPKIX", "IACPKIX" };
    if (t >= 1 && t <= 8) emits(n[t - 1]);
    else if (t == 253) emits("URI");
    else if (t == 254) emits("OID");
    else emitu(t);
}

/* APL (RFC 3123): [!]family:address/prefix, space separated */
static const char *apl_do(const uint8_t *m, size_t *off, size_t lim) {
    size_t o = *off;
    int n = 0;
    while (o < lim) {
        uint8_t a[16];
        unsigned fam, pre, alen, w;
        if (lim - o < 4) return "dns: overflow unpacking APL prefix";
        fam = be16(m + o); pre = m[o + 2]; alen = m[o + 3] & 0x7Fu;
        if (fam != 1 && fam != 2) return "dns: unrecognized APL address family";
        w = fam == 1 ? 4u : 16u;
        if (pre > 8 * w) return "dns: APL prefix too long";
        if (alen > w) return "dns: APL length too long";
        if (alen > lim - o - 4) return "dns: overflow unpacking APL address";
        if (alen && m[o + 4 + alen - 1] == 0) return "dns: extra APL address bits";
        memset(a, 0, sizeof a);
        memcpy(a, m + o + 4, alen);
        if (n++) emitc(' ');
        if (m[o + 3] & 0x80) emitc('!');
        emits(fam == 1 ? "1:" : "2:");
        if (w == 16 && v4mapped(a)) emits("::ffff:");
        emit_ip(a, w);
        emitc('/');
        emitu(pre);
        o += 4 + alen;
    }
    *off = o;
    return NULL;
}

/* EDNS: the OPT record as miekg's OPT.String() prints it */
static void emit_algs(const uint8_t *p, size_t n, int hash) {
    static const char *const hsh[6] = { 0, "SHA1", "SHA256", "GOST94", "SHA384", "SHA512" };
    size_t i;
    for (i = 0; i < n; i++) {
        const char *s = hash ? (p[i] < 6 ? hsh[p[i]] : NULL) : alg_str(p[i]);
        emitc(' ');
        if (s) emits(s); else emitu(p[i]);
    }
}
static const char *opt_one(uint16_t code, const uint8_t *p, size_t n) {
    static const char *const ede[25] = { "Other", "Unsupported DNSKEY Algorithm", "Unsupported DS Digest Type",
        "Stale Answer", "Forged Answer", "DNSSEC Indeterminate", "DNSSEC Bogus", "Signature Expired",
        "Signature Not Yet Valid", "DNSKEY Missing", "RRSIGs Missing", "No Zone Key Bit Set", "NSEC Missing",
        "Cached Error", "Not Ready", "Blocked", "Censored", "Filtered", "Prohibited", "Stale NXDOMAIN Answer",
        "Not Authoritative", "Not Supported", "No Reachable Authority", "Network Error", "Invalid Data" };
    size_t i;
    switch (code) {
    case 1:   /* LLQ */
        if (n < 18) return E_BUF;
        emits("\n; LONG LIVED QUERIES: "); emitu(be16(p)); emitc(' '); emitu(be16(p + 2)); emitc(' ');
        emitu(be16(p + 4)); emitc(' '); emitu(((uint64_t)be32(p + 6) << 32) | be32(p + 10)); emitc(' ');
        emitu(be32(p + 14));
        return NULL;
    case 2:   /* update lease */
        if (n != 4 && n != 8) return E_BUF;
        emits("\n; UPDATE LEASE: "); emitu(be32(p)); emitc(' '); emitu(n == 8 ? be32(p + 4) : 0);
        return NULL;
    case 3:   /* NSID: hex, then each byte as the rune of that number */
        emits("\n; NSID: "); emit_hex(p, n, 0); emits("  ");
        for (i = 0; i < n; i++) {
            char u[2];
            emitc('(');
            if (p[i] < 0x80) emitc((char)p[i]);
            else { u[0] = (char)(0xC0 | (p[i] >> 6)); u[1] = (char)(0x80 | (p[i] & 0x3F)); emit(u, 2); }
            emitc(')');
        }
        return NULL;
    case 4: emits("\n; ESU: "); emit((const char *)p, n); return NULL;
    case 5: emits("\n; DNSSEC ALGORITHM UNDERSTOOD: "); emit_algs(p, n, 0); return NULL;
    case 6: emits("\n; DS HASH UNDERSTOOD: "); emit_algs(p, n, 1); return NULL;
    case 7: emits("\n; NSEC3 HASH UNDERSTOOD: "); emit_algs(p, n, 1); return NULL;
    case 8: {   /* client subnet */
        uint8_t a[16];
        uint16_t fam;
        if (n < 4) return E_BUF;
        fam = be16(p);
        memset(a, 0, sizeof a);
        if (fam == 0) { if (p[2] != 0) return "dns: bad address family"; }
        else if (fam == 1) { if (p[2] > 32 || p[3] > 32) return "dns: bad netmask"; }
        else if (fam == 2) { if (p[2] > 128 || p[3] > 128) return "dns: bad netmask"; }
        else return "dns: bad address family";
        memcpy(a, p + 4, n - 4 < (fam == 2 ? 16u : 4u) ? n - 4 : (fam == 2 ? 16u : 4u));
        emits("\n; SUBNET: ");
        if (fam != 2) emit_ip(a, 4);
        else if (v4mapped(a)) emit_ip(a, 16);
        else { emitc('['); emit_ip(a, 16); emitc(']'); }
        emitc('/'); emitu(p[2]); emitc('/'); emitu(p[3]);
        return NULL;
    }
    case 9:   /* expire: miekg prints nothing for it */
        if (n > 0 && n < 4) return E_BUF;
        return NULL;
    case 10: emits("\n; COOKIE: "); emit_hex(p, n, 0); return NULL;
    case 11:
        if (n != 0 && n != 2) {
            snprintf(errbuf, sizeof errbuf, "dns: length mismatch, want 0/2 but got %u", (unsigned)n);
            return errbuf;
        }
        emits("\n; KEEPALIVE: use tcp keep-alive");
        if (n == 0 || be16(p) == 0) emits(", timeout omitted");
        else { emits(", timeout "); emitu((uint16_t)(be16(p) * 100u)); emits("ms"); }
        return NULL;
    case 12: emits("\n; PADDING: "); emit_hex(p, n, 1); return NULL;
    case 15: {
        uint16_t info;
        if (n < 2) return E_BUF;
        info = be16(p);
        emits("\n; EDE: "); emitu(info);
        if (info < 25) { emits(" ("); emits(ede[info]); emitc(')'); }
        emits(": ("); emit((const char *)p + 2, n - 2); emitc(')');
        return NULL;
    }
    default:
        emits("\n; LOCAL OPT: "); emitu(code); emits(":0x"); emit_hex(p, n, 0);
        return NULL;
    }
}
static const char *opt_do(const uint8_t *m, size_t o, size_t lim, uint16_t udp, uint32_t ttl) {
    emits("\n;; OPT PSEUDOSECTION:\n; EDNS: version "); emitu((ttl >> 16) & 0xFF);
    emits(ttl & 0x8000 ? "; flags: do; udp: " : "; flags: ; udp: "); emitu(udp);
    while (o < lim) {
        uint16_t code, len;
        const char *e;
        if (lim - o < 4) return E_OPT;
        code = be16(m + o); len = be16(m + o + 2); o += 4;
        if (len > lim - o) return E_OPT;
        if ((e = opt_one(code, m + o, len)) != NULL) return e;
        o += len;
    }
    return NULL;
}

/* LOC (RFC 1876) as miekg prints it: version size horiz vert lat lon alt */
static void emit_cm(unsigned v) {   /* cmToM(): mantissa/exponent centimetres in metres */
    unsigned man = v >> 4, ex = v & 15;
    if (ex < 2) { emits("0."); emitw(ex == 1 ? man * 10 : man, 2); return; }
    emitu(man);
    while (ex-- > 2) emitc('0');
}
static void emit_loc(const uint64_t *nv) {
    int i;
    for (i = 0; i < 2; i++) {
        uint32_t x = (uint32_t)nv[4 + i], eq = 0x80000000u;
        int pos = x > eq;
        x = pos ? x - eq : eq - x;
        emitw(x / 3600000u, 2); emitc(' '); emitw(x % 3600000u / 60000u, 2); emitc(' ');
        emitu(x % 60000u / 1000u); emitc('.'); emitw(x % 1000u, 3); emitc(' ');
        emits(i == 0 ? (pos ? "N " : "S ") : (pos ? "E " : "W "));
    }
    {
        int64_t alt = (int64_t)nv[6] - 10000000;
        uint64_t a = (uint64_t)(alt < 0 ? -alt : alt);
        if (alt < 0) emitc('-');
        emitu(a / 100);
        if (nv[6] % 100) { emitc('.'); emitw(a % 100, 2); }
        emits("m ");
    }
    emit_cm((unsigned)nv[1]); emits("m "); emit_cm((unsigned)nv[2]); emits("m "); emit_cm((unsigned)nv[3]); emitc('m');
}
static const char *rdata_do(const uint8_t *m, size_t o, size_t lim, const char *spec, uint64_t *nv);

/* One resource record at m[*off]: its text (RR.String()), or an error, or
   RR_END when the message ends right there. sec 3 (additional) prints no OPT. */
static const char *rr_do(const uint8_t *m, size_t len, size_t *off, int sec, uint16_t *typep, uint32_t *ttlp) {
    char nb[NAME_TXT];
    size_t nl, o = *off, lim, i;
    uint16_t type, cls, rdlen;
    uint32_t ttl;
    const char *e, *spec = NULL;
    if (o == len) return RR_END;
    if ((e = dname(m, len, &o, nb, &nl)) != NULL) return e;
    if (len - o < 2) return E_U16;
    type = be16(m + o); o += 2;
    if (len - o < 2) return E_U16;
    cls = be16(m + o); o += 2;
    if (len - o < 4) return E_U32;
    ttl = be32(m + o); o += 4;
    if (len - o < 2) return E_U16;
    rdlen = be16(m + o); o += 2;
    if (rdlen > len - o) return E_HDR;
    lim = o + rdlen;
    *typep = type;
    *ttlp = ttl;
    *off = lim;
    if (type == 41) {   /* OPT */
        if (sec == 3) mute++;
        e = opt_do(m, o, lim, cls, ttl);
        if (sec == 3) mute--;
        return e;
    }
    for (i = 0; i < sizeof rrspec / sizeof rrspec[0]; i++)
        if (rrspec[i].t == type) spec = rrspec[i].spec;
    if ((type == 10 || type == 249) && spec) emitc(';');   /* NULL, TKEY: no presentation format */
    if (type == 250) emits("\n;; TSIG PSEUDOSECTION:\n; ");
    emit(nb, nl); emitc('\t'); emitu(ttl); emitc('\t');
    if (spec == NULL) {   /* RFC 3597 */
        emits("CLASS"); emitu(cls); emits("\tTYPE"); emitu(type); emits("\t\\# "); emitu(rdlen); emitc(' ');
        emit_hex(m + o, rdlen, 0);
        return NULL;
    }
    emit_class(cls); emitc('\t'); emit_type(type); emitc('\t');
    if (type == 29) {   /* LOC: parsed muted, then printed from the values */
        uint64_t nv[8];
        mute++;
        e = rdata_do(m, o, lim, spec, nv);
        mute--;
        if (!e) emit_loc(nv);
        return e;
    }
    return rdata_do(m, o, lim, spec, NULL);
}

/* The RDATA at m[o..lim) laid out as spec says; the numbers go to nv[8]. */
static const char *rdata_do(const uint8_t *m, size_t o, size_t lim, const char *spec, uint64_t *nv) {
    const char *e;
    size_t i;
    {
        int ended = o == lim, first = 1, nf = 0, lqh = 0, lqt = 0;
        uint64_t lq[4];
        if (*spec == '+') { first = 0; spec++; }
        for (; *spec; spec++) {
            char k = *spec;
            int have = !ended;
            uint64_t v = 0;
            if (k != 'L' && k != 'M' && k != 'N' && !(!have && (k == 'a' || k == '6'))) {
                if (!first && k != 'm' && k != 'p') emitc(' ');
                first = 0;
            }
            switch (k) {
            case '1': case 'L': case 'G':
                if (have) { if (lim - o < 1) return E_U8; v = m[o]; o += 1; }
                if (k == '1') emitu(v);
                else if (k == 'G') emit_alg((uint8_t)v);
                break;
            case '2': case 'T': case 'C': case 'M': case 'K':
                if (have) { if (lim - o < 2) return E_U16; v = be16(m + o); o += 2; }
                if (k == '2' || k == 'K') emitu(v);
                else if (k == 'M') {}
                else if (k == 'T') emit_type((uint16_t)v);
                else emit_certtype((uint16_t)v);
                break;
            case '4': case 'E':
                if (have) { if (lim - o < 4) return E_U32; v = be32(m + o); o += 4; }
                if (k == '4') emitu(v); else emit_sigtime((uint32_t)v);
                break;
            case 'Z':
                if (have) {
                    if (lim - o < 6) return "dns: overflow unpacking uint64 as uint48";
                    for (i = 0; i < 6; i++) v = (v << 8) | m[o + i];
                    o += 6;
                }
                {
                    civil_t c = civil(v, 0);
                    emitw((uint64_t)c.y, 4); emitw(c.mo, 2); emitw(c.d, 2); emitw(c.h, 2); emitw(c.mi, 2); emitw(c.s, 2);
                }
                break;
            case 'N':
                while (have && o < lim) { emitc(' '); if ((e = name_do(m, lim, &o)) != NULL) return e; }
                break;
            case 'q': case 'Q': case 'w': case 'W':
                if (have) {
                    size_t w = k == 'w' ? 6 : 8;
                    if (lim - o < w) return k == 'w' ? "dns: overflow unpacking uint64 as uint48" : "dns: overflow unpacking uint64";
                    for (i = 0; i < w; i++) v = (v << 8) | m[o + i];
                    o += w;
                }
                for (i = k == 'w' ? 12 : 16; i-- > 0;) {
                    emitc((k == 'Q' ? hexu : hexl)[(v >> (4 * i)) & 15]);
                    if (i && i % (k == 'q' || k == 'Q' ? 4 : 2) == 0) emitc(k == 'q' || k == 'Q' ? ':' : '-');
                }
                break;
            case 'n':
                if (have && (e = name_do(m, lim, &o)) != NULL) return e;
                break;
            case 's': case 'S':
                if (k == 's') emitc('"');
                if (have) {
                    size_t l;
                    if (o >= lim || (l = m[o]) > lim - o - 1) return E_TXT;
                    emit_txt(m + o + 1, l);
                    o += 1 + l;
                }
                if (k == 's') emitc('"');
                break;
            case 't':
                for (i = 0; have && o < lim; i++) {
                    size_t l = m[o];
                    if (l > lim - o - 1) return E_TXT;
                    if (i) emitc(' ');
                    emitc('"'); emit_txt(m + o + 1, l); emitc('"');
                    o += 1 + l;
                }
                break;
            case 'a': case '6':
                if (have) {
                    size_t w = k == 'a' ? 4 : 16;
                    if (lim - o < w) return k == 'a' ? "dns: overflow unpacking a" : "dns: overflow unpacking aaaa";
                    emit_ip(m + o, w);
                    o += w;
                }
                break;
            case 'h': case 'H': case 'b': case 'o': case 'z': case 'r':
                if (k == 'o' && !have) emits("\"\"");
                if (!have) break;
                if (k == 'b') emit_b64(m + o, lim - o);
                else if (k == 'o') emit_octet(m + o, lim - o);
                else if (k == 'r') emit((const char *)m + o, lim - o);
                else if (k != 'z') emit_hex(m + o, lim - o, k == 'H');
                else {
                    for (i = 0; i < lim - o; i++) { if (i && i % 512 == 0) emitc(' '); emit_hex(m + o + i, 1, 0); }
                    if (lim - o >= 512 && (lim - o) % 512 == 0) emitc(' ');
                }
                o = lim;
                break;
            case 'x': case 'y': case 'X': case 'j': case 'B': {
                size_t l = lqh < lqt ? (size_t)lq[lqh++] : 0;
                if (have && l > lim - o)
                    return k == 'y' ? "dns: overflow unpacking base32" : k == 'B' ? "dns: overflow unpacking base64"
                                                                       : "dns: overflow unpacking hex";
                if (k == 'x' && (!have || l == 0)) emitc('-');
                else if (!have) {}
                else if (k == 'y') emit_b32(m + o, l);
                else if (k == 'B') emit_b64(m + o, l);
                else emit_hex(m + o, l, k != 'j');
                if (have) o += l;
                break;
            }
            case 'm':
                if (have && (e = nsec_do(m, &o, lim)) != NULL) return e;
                break;
            case 'A':
                if (have && (e = apl_do(m, &o, lim)) != NULL) return e;
                break;
            case 'p':
                if (have && (e = svcb_do(m, &o, lim)) != NULL) return e;
                break;
            default: break;
            }
            if (nv && nf < 8) nv[nf++] = v;
            if ((k == 'L' || k == 'M' || k == 'K') && lqt < 4) lq[lqt++] = v;
            if (have && o == lim && !strchr("tmpxyXjBNA", k)) ended = 1;
        }
    }
    if (o != lim) return E_RDLEN;
    return NULL;
}

/* ---- whole messages ---- */
typedef struct dmsg_t {
    uint16_t id, bits;
    unsigned cnt[4];       /* records parsed per section (what miekg counts) */
    size_t sec[4];         /* where each section starts */
    size_t opt;            /* the last OPT record of the additional section */
    int has_opt;
    uint32_t opt_ttl;
} dmsg_t;

static const char *question(const uint8_t *m, size_t len, size_t *off, char *nb, size_t *nl,
                            uint16_t *qt, uint16_t *qc) {
    size_t o = *off;
    const char *e = dname(m, len, &o, nb, nl);
    *qt = *qc = 0;
    if (e) return e;
    if (o < len) {
        if (len - o < 2) return E_U16;
        *qt = be16(m + o); o += 2;
        if (o < len) {
            if (len - o < 2) o = len;   /* miekg ignores a cut-off qclass */
            else { *qc = be16(m + o); o += 2; }
        }
    }
    *off = o;
    return NULL;
}

/* Validate the whole message, as dns.Msg.Unpack() does; nothing printed. */
static const char *dns_scan(const uint8_t *m, size_t len, dmsg_t *d) {
    char nb[NAME_TXT];
    size_t off = 12, nl;
    unsigned s, i, want[4];
    const char *e = NULL;
    memset(d, 0, sizeof *d);
    if (len < 12) return E_U16;
    d->id = be16(m);
    d->bits = be16(m + 2);
    for (s = 0; s < 4; s++) { want[s] = be16(m + 4 + 2 * s); d->sec[s] = off; }
    if (off == len) return NULL;   /* just a header: no sections at all */
    mute++;
    for (i = 0; i < want[0] && !e; i++) {
        uint16_t qt, qc;
        e = question(m, len, &off, nb, &nl, &qt, &qc);
        if (!e) d->cnt[0]++;
    }
    for (s = 1; s < 4 && !e; s++) {
        d->sec[s] = off;
        for (i = 0; i < want[s]; i++) {
            size_t o1 = off;
            uint16_t t;
            uint32_t ttl;
            e = rr_do(m, len, &off, (int)s, &t, &ttl);
            if (e == RR_END) { e = NULL; break; }
            if (e) break;
            d->cnt[s]++;
            if (s == 3 && t == 41) { d->has_opt = 1; d->opt = o1; d->opt_ttl = ttl; }
        }
    }
    mute--;
    return e;
}

/* dns.Msg.String() of a message dns_scan() accepted */
static void dns_print(const uint8_t *m, size_t len, const dmsg_t *d) {
    static const char *const op[6] = { "QUERY", "IQUERY", "STATUS", "", "NOTIFY", "UPDATE" };
    static const char *const rc[24] = { "NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED",
        "YXDOMAIN", "YXRRSET", "NXRRSET", "NOTAUTH", "NOTZONE", "", "", "", "", "", "BADSIG", "BADKEY",
        "BADTIME", "BADMODE", "BADNAME", "BADALG", "BADTRUNC", "BADCOOKIE" };
    static const char *const sect[4] = { "QUESTION", "ANSWER", "AUTHORITY", "ADDITIONAL" };
    static const char *const flag[8] = { " qr", " aa", " tc", " rd", " ra", " z", " ad", " cd" };
    static const uint16_t fbit[8] = { 0x8000, 0x0400, 0x0200, 0x0100, 0x0080, 0x0040, 0x0020, 0x0010 };
    unsigned o = (d->bits >> 11) & 15u, r = d->bits & 15u, s, i;
    if (d->has_opt) r |= (d->opt_ttl >> 24) << 4;
    emits(";; opcode: "); emits(o < 6 ? op[o] : ""); emits(", status: "); emits(r < 24 ? rc[r] : "");
    emits(", id: "); emitu(d->id); emits("\n;; flags:");
    for (i = 0; i < 8; i++) if (d->bits & fbit[i]) emits(flag[i]);
    emits("; QUERY: "); emitu(d->cnt[0]); emits(", ANSWER: "); emitu(d->cnt[1]);
    emits(", AUTHORITY: "); emitu(d->cnt[2]); emits(", ADDITIONAL: "); emitu(d->cnt[3]); emitc('\n');
    if (d->has_opt) {
        size_t off = d->opt;
        uint16_t t;
        uint32_t ttl;
        (void)rr_do(m, len, &off, 0, &t, &ttl);
        emitc('\n');
    }
    for (s = 0; s < 4; s++) {
        size_t off = d->sec[s];
        if (d->cnt[s] == 0 || (s == 3 && d->has_opt && d->cnt[3] == 1)) continue;
        emits("\n;; "); emits(sect[s]); emits(" SECTION:\n");
        for (i = 0; i < d->cnt[s]; i++) {
            uint16_t t = 0, qc;
            uint32_t ttl;
            if (s == 0) {
                char nb[NAME_TXT];
                size_t nl;
                (void)question(m, len, &off, nb, &nl, &t, &qc);
                emitc(';'); emit(nb, nl); emitc('\t'); emit_class(qc); emits("\t "); emit_type(t);
            } else (void)rr_do(m, len, &off, (int)s, &t, &ttl);
            if (!(s == 3 && t == 41)) emitc('\n');
        }
    }
}

/* ======================================================================
   Dnstap messages in the three formats
   ====================================================================== */
enum { F_YAML, F_JSON, F_QUIET };
static int fmt = F_YAML;

static const char *enum_name(int kind, int v) {
    static const char *const http[3] = { "HTTP1", "HTTP2", "HTTP3" };
    static const char *const act[6] = { "NXDOMAIN", "NODATA", "PASS", "DROP", "TRUNCATE", "LOCAL_DATA" };
    static const char *const mat[5] = { "QNAME", "CLIENT_IP", "RESPONSE_IP", "NS_NAME", "NS_IP" };
    const char *s = "?";
    switch (kind) {
    case 0: s = dnstap_message_type_str((dnstap_message_type_t)v); break;
    case 1: s = dnstap_socket_family_str((dnstap_socket_family_t)v); break;
    case 2:   /* golang-dnstap knows UDP..DOH only and shows the others as numbers */
        if (v <= DNSTAP_DOH) s = dnstap_socket_protocol_str((dnstap_socket_protocol_t)v);
        break;
    case 3: if (v >= 1 && v <= 3) s = http[v - 1]; break;
    case 4: if (v >= 1 && v <= 6) s = act[v - 1]; break;
    case 5: if (v >= 1 && v <= 5) s = mat[v - 1]; break;
    default: break;
    }
    return s;
}
static void emit_enum(int kind, int v) {
    const char *s = enum_name(kind, v);
    if (strcmp(s, "?") == 0) emitu((uint64_t)(unsigned)v); else emits(s);
}

/* the presentation form of a wire-format name that is exactly b (query_zone) */
static const char *zone_name(dnstap_bytes_t b, char *t, size_t *n) {
    size_t off = 0;
    return dname(b.data, b.len, &off, t, n);
}

static void yaml_dns(const char *key, dnstap_bytes_t b) {
    dmsg_t d;
    const char *e;
    if (b.data == NULL) return;
    if ((e = dns_scan(b.data, b.len, &d)) != NULL) {
        emits("  # "); emits(key); emits(": parse failed: "); emits(e); emits("\n  ");
        emits(key); emits("_hex: \""); emit_hex(b.data, b.len, 0); emits("\"\n");
        return;
    }
    emits("  "); emits(key); emits(": |\n    ");
    smode = S_YAML;
    npend = 0;
    dns_print(b.data, b.len, &d);
    npend = 0;   /* strings.TrimSpace */
    smode = S_RAW;
    emitc('\n');
}

/* An address as golang prints it, quoted only where a trailing ':' (as in
   "2001:db8::") would make it a YAML mapping key: the same value, and YAML. */
static void yaml_ip(const uint8_t *p, size_t n) {
    char b[64];
    size_t l;
    if (n > 16) { emit_odd_ip(p, n); return; }
    l = ip_str(p, n, b);
    if (l && b[l - 1] == ':') { emitc('"'); emit(b, l); emitc('"'); }
    else emit(b, l);
}

static void yaml_policy(const dnstap_policy_t *p) {
    emits("  policy:\n");
    if (p->type.data) { emits("    type: "); emit_quote(p->type.data, p->type.len); emitc('\n'); }
    if (p->rule.data) { emits("    rule: "); emit_quote(p->rule.data, p->rule.len); emitc('\n'); }
    if (p->action) { emits("    action: "); emit_enum(4, (int)p->action); emitc('\n'); }
    if (p->match) { emits("    match: "); emit_enum(5, (int)p->match); emitc('\n'); }
    if (p->value.data) {
        char t[NAME_TXT];
        size_t n;
        int ipmatch = p->match == DNSTAP_MATCH_CLIENT_IP || p->match == DNSTAP_MATCH_RESPONSE_IP ||
                      p->match == DNSTAP_MATCH_NS_IP;
        emits("    value: ");
        if (ipmatch && (p->value.len == 4 || p->value.len == 16)) yaml_ip(p->value.data, p->value.len);
        else if (!ipmatch && p->match && zone_name(p->value, t, &n) == NULL) emit_quote((const uint8_t *)t, n);
        else emit_quote(p->value.data, p->value.len);
        emitc('\n');
    }
}

static void print_yaml(const dnstap_msg_t *m) {
    emits("type: MESSAGE\n");
    if (m->identity.data) { emits("identity: "); emit_quote(m->identity.data, m->identity.len); emitc('\n'); }
    if (m->version.data) { emits("version: "); emit_quote(m->version.data, m->version.len); emitc('\n'); }
    if (m->extra.data) { emits("extra: "); emit_quote(m->extra.data, m->extra.len); emitc('\n'); }
    emits("message:\n  type: "); emit_enum(0, (int)m->type); emitc('\n');
    if ((m->has & DNSTAP_HAS_QUERY_TIME) == DNSTAP_HAS_QUERY_TIME) {
        emits("  query_time: !!timestamp "); emit_time(m->query_time_sec, m->query_time_nsec, ' '); emitc('\n');
    }
    if ((m->has & DNSTAP_HAS_RESPONSE_TIME) == DNSTAP_HAS_RESPONSE_TIME) {
        emits("  response_time: !!timestamp "); emit_time(m->response_time_sec, m->response_time_nsec, ' ');
        emitc('\n');
    }
    if (m->socket_family) { emits("  socket_family: "); emit_enum(1, (int)m->socket_family); emitc('\n'); }
    if (m->socket_protocol) {
        emits("  socket_protocol: "); emit_enum(2, (int)m->socket_protocol);
        if (m->socket_protocol > DNSTAP_DOH) { emits("  # "); emits(dnstap_socket_protocol_str(m->socket_protocol)); }
        emitc('\n');
    }
    if (m->http_protocol) { emits("  http_protocol: "); emit_enum(3, (int)m->http_protocol); emitc('\n'); }
    if (m->query_address.data) {
        emits("  query_address: "); yaml_ip(m->query_address.data, m->query_address.len); emitc('\n');
    }
    if (m->response_address.data) {
        emits("  response_address: "); yaml_ip(m->response_address.data, m->response_address.len); emitc('\n');
    }
    if (m->has & DNSTAP_HAS_QUERY_PORT) { emits("  query_port: "); emitu(m->query_port); emitc('\n'); }
    if (m->has & DNSTAP_HAS_RESPONSE_PORT) { emits("  response_port: "); emitu(m->response_port); emitc('\n'); }
    if (m->query_zone.data) {
        char t[NAME_TXT];
        size_t n;
        const char *e = zone_name(m->query_zone, t, &n);
        if (e) { emits("  # query_zone: parse failed: "); emits(e); emitc('\n'); }
        else { emits("  query_zone: "); emit_quote((const uint8_t *)t, n); emitc('\n'); }
    }
    yaml_dns("query_message", m->query_message);
    yaml_dns("response_message", m->response_message);
    if ((m->has & DNSTAP_HAS_POLICY) || m->policy.type.data || m->policy.rule.data || m->policy.action ||
        m->policy.match || m->policy.value.data)
        yaml_policy(&m->policy);
    emits("---\n");
}

static void json_key(const char *k, int *n) {
    emits((*n)++ ? ",\"" : "\""); emits(k); emits("\":");
}
static void json_str(const char *k, int *n, const void *p, size_t len) {
    json_key(k, n);
    emitc('"'); smode = S_JSON; emit((const char *)p, len); smode = S_RAW; emitc('"');
}
static void json_enum(const char *k, int *n, int kind, int v) {
    const char *s = enum_name(kind, v);
    char b[16];
    if (strcmp(s, "?") == 0) { snprintf(b, sizeof b, "%u", (unsigned)v); s = b; }
    json_str(k, n, s, strlen(s));
}
static void json_time(const char *k, int *n, uint64_t sec, uint32_t nsec) {
    json_key(k, n); emitc('"'); emit_time(sec, nsec, 'T'); emitc('"');
}
static void json_ip(const char *k, int *n, dnstap_bytes_t b) {
    char t[64];
    if (b.data) json_str(k, n, t, b.len ? ip_str(b.data, b.len, t) : 0);
}
static void json_dns(const char *k, int *n, dnstap_bytes_t b) {
    dmsg_t d;
    const char *e;
    if (b.data == NULL) return;
    json_key(k, n);
    emitc('"');
    if ((e = dns_scan(b.data, b.len, &d)) != NULL) {
        emits("parse failed: "); emits(e); emits("\",\""); emits(k); emits("_hex\":\"");
        emit_hex(b.data, b.len, 0);
    } else {
        smode = S_JSON; dns_print(b.data, b.len, &d); smode = S_RAW;
    }
    emitc('"');
}

static void print_json(const dnstap_msg_t *m) {
    int n = 0;
    emits("{");
    json_str("type", &n, "MESSAGE", 7);
    if (m->identity.len) json_str("identity", &n, m->identity.data, m->identity.len);
    if (m->version.len) json_str("version", &n, m->version.data, m->version.len);
    if (m->extra.len) json_str("extra", &n, m->extra.data, m->extra.len);
    json_key("message", &n);
    emitc('{');
    n = 0;
    json_enum("type", &n, 0, (int)m->type);
    if ((m->has & DNSTAP_HAS_QUERY_TIME) == DNSTAP_HAS_QUERY_TIME)
        json_time("query_time", &n, m->query_time_sec, m->query_time_nsec);
    if ((m->has & DNSTAP_HAS_RESPONSE_TIME) == DNSTAP_HAS_RESPONSE_TIME)
        json_time("response_time", &n, m->response_time_sec, m->response_time_nsec);
    if (m->socket_family) json_enum("socket_family", &n, 1, (int)m->socket_family);
    if (m->socket_protocol) json_enum("socket_protocol", &n, 2, (int)m->socket_protocol);
    if (m->http_protocol) json_enum("http_protocol", &n, 3, (int)m->http_protocol);
    json_ip("query_address", &n, m->query_address);
    json_ip("response_address", &n, m->response_address);
    if (m->has & DNSTAP_HAS_QUERY_PORT) { json_key("query_port", &n); emitu(m->query_port); }
    if (m->has & DNSTAP_HAS_RESPONSE_PORT) { json_key("response_port", &n); emitu(m->response_port); }
    if (m->query_zone.data) {
        char t[NAME_TXT + 16];
        size_t l;
        const char *e = zone_name(m->query_zone, t, &l);
        if (e) l = (size_t)snprintf(t, sizeof t, "parse failed: %s", e);
        json_str("query_zone", &n, t, l);
    }
    json_dns("query_message", &n, m->query_message);
    json_dns("response_message", &n, m->response_message);
    if ((m->has & DNSTAP_HAS_POLICY) || m->policy.type.data || m->policy.rule.data || m->policy.action ||
        m->policy.match || m->policy.value.data) {
        const dnstap_policy_t *p = &m->policy;
        int k = 0;
        json_key("policy", &n);
        emitc('{');
        if (p->type.data) json_str("type", &k, p->type.data, p->type.len);
        if (p->rule.data) json_str("rule", &k, p->rule.data, p->rule.len);
        if (p->action) json_enum("action", &k, 4, (int)p->action);
        if (p->match) json_enum("match", &k, 5, (int)p->match);
        if (p->value.data) {
            char t[64];
            if (p->value.len == 4 || p->value.len == 16) json_str("value", &k, t, ip_str(p->value.data, p->value.len, t));
            else { json_key("value", &k); emitc('"'); emit_hex(p->value.data, p->value.len, 0); emitc('"'); }
        }
        emitc('}');
    }
    emits("}}\n");
}

static void print_quiet(const dnstap_msg_t *m) {
    static const char letter[16] = "?AARRCCFFSSTTUU";
    int t = (int)m->type, q;
    const dnstap_bytes_t *a, *dm;
    dmsg_t d;
    if (t < 1 || t > 14 || t == 9 || t == 10) { emits("[unhandled Message.Type]\n"); return; }
    q = t % 2;
    if ((q ? m->has & DNSTAP_HAS_QUERY_TIME_SEC : m->has & DNSTAP_HAS_RESPONSE_TIME_SEC) != 0) {
        time_t s = (time_t)(q ? m->query_time_sec : m->response_time_sec);
        struct tm tm;
        if (localtime_r(&s, &tm)) {
            emitw((uint64_t)tm.tm_hour, 2); emitc(':'); emitw((uint64_t)tm.tm_min, 2); emitc(':');
            emitw((uint64_t)tm.tm_sec, 2);
        } else {   /* a year struct tm cannot hold: Go's clock for it, in UTC */
            civil_t c = civil(q ? m->query_time_sec : m->response_time_sec, 0);
            emitw(c.h, 2); emitc(':'); emitw(c.mi, 2); emitc(':'); emitw(c.s, 2);
        }
    } else emits("??:??:??");
    if ((q ? m->has & DNSTAP_HAS_QUERY_TIME_NSEC : m->has & DNSTAP_HAS_RESPONSE_TIME_NSEC) != 0) {
        emitc('.'); emitw((q ? m->query_time_nsec : m->response_time_nsec) / 1000u, 6);
    } else emits(".??????");
    emitc(' '); emitc(letter[t]); emits(q ? "Q " : "R ");
    a = (t == 1 || t == 2 || t == 5 || t == 6) ? &m->query_address : &m->response_address;
    if (a->data) emit_ip(a->data, a->len); else emits("MISSING_ADDRESS");
    emitc(' ');
    if (m->socket_protocol) emit_enum(2, (int)m->socket_protocol);
    emitc(' ');
    dm = q ? &m->query_message : &m->response_message;
    emitu(dm->len); emits("b ");
    if (dm->data == NULL || dns_scan(dm->data, dm->len, &d) != NULL || d.cnt[0] == 0) emits("X ");
    else {
        char nb[NAME_TXT];
        size_t off = 12, nl;
        uint16_t qt, qc;
        (void)question(dm->data, dm->len, &off, nb, &nl, &qt, &qc);
        emitc('"'); emit(nb, nl); emits("\" "); emit_class(qc); emitc(' '); emit_type(qt);
    }
    emitc('\n');
}

/* ======================================================================
   Frame Streams input: files, and live connections
   ====================================================================== */
static int status;                 /* exit status */
static unsigned long long nframes;

/* Print one data frame; returns what dnstap_decode() said (a frame that is
   not a Dnstap message is reported and skipped). */
static dnstap_result_t on_data(const uint8_t *p, size_t n) {
    dnstap_msg_t m;
    dnstap_result_t r = dnstap_decode(p, n, &m);
    nframes++;
    if (r != DNSTAP_OK) {
        oflush();
        fprintf(stderr, READER_PROGRAM ": frame %llu: %s\n", nframes, dnstap_result_str(r));
        status = 1;
        return r;
    }
    if (fmt == F_YAML) print_yaml(&m);
    else if (fmt == F_JSON) print_json(&m);
    else print_quiet(&m);
    return r;
}

static dnstap_reader_t file_rd;
static uint8_t file_buf[READER_FRAME_MAX];
static uint8_t chunk[65536];
static int lenient;                /* -L: a file may hold READY before START */

/* What is done with each data frame of a file: printed, unless a program
   that includes this file does something else with it (examples/dtap.c). */
#ifndef READER_ON_DATA
#define READER_ON_DATA on_data
#endif

static int read_file(const char *name) {
    dnstap_result_t r = DNSTAP_OK;
    int fd = strcmp(name, "-") == 0 ? 0 : open(name, O_RDONLY);
    if (fd < 0) { fprintf(stderr, READER_PROGRAM ": %s: %s\n", name, strerror(errno)); return 1; }
    dnstap_reader_init(&file_rd, file_buf, sizeof file_buf);
    file_rd.role = lenient ? DNSTAP_READ_WRITER_STREAM : DNSTAP_READ_FILE;
    for (;;) {
        ssize_t n = read(fd, chunk, sizeof chunk);
        size_t pos = 0;
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) { oflush(); fprintf(stderr, READER_PROGRAM ": %s: %s\n", name, strerror(errno)); status = 1; break; }
        if (n == 0) { r = dnstap_reader_end(&file_rd); break; }
        while (pos < (size_t)n) {
            dnstap_frame_t f;
            size_t used;
            r = dnstap_reader_feed(&file_rd, chunk + pos, (size_t)n - pos, &used, &f);
            pos += used;
            if (r != DNSTAP_OK) break;
            if (f.kind == DNSTAP_FRAME_DATA) (void)READER_ON_DATA(f.data, f.len);
        }
        if (r != DNSTAP_OK && r != DNSTAP_ERR_AGAIN) break;
    }
    if (fd != 0) close(fd);
    oflush();
    if (r != DNSTAP_OK && r != DNSTAP_ERR_AGAIN) {
        fprintf(stderr, READER_PROGRAM ": %s: %s\n", name, dnstap_result_str(r));
        return 1;
    }
    return 0;
}

#ifndef READER_EMBEDDED   /* examples/dtap.c has its own main() */
static int usage(void) {
    fprintf(stderr, "usage: reader [-y|-j|-q] [-L] FILE...   (\"-\": standard input)\n");
    return 2;
}

int main(int argc, char **argv) {
    int i, opt;
    while ((opt = getopt(argc, argv, "yjqL")) != -1) {
        switch (opt) {
        case 'y': fmt = F_YAML; break;
        case 'j': fmt = F_JSON; break;
        case 'q': fmt = F_QUIET; break;
        case 'L': lenient = 1; break;
        default: return usage();
        }
    }
    if (optind == argc) return usage();
    for (i = optind; i < argc; i++) if (read_file(argv[i]) != 0) status = 1;
    oflush();
    return out_failed ? 1 : status;
}
#endif
