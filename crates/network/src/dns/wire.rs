//! The few pieces of the DNS wire format (RFC 1035) the embedded server needs: read
//! one question from a query, and write a response with A or PTR answers (or none).
//! Everything else (EDNS options, other sections) is ignored on input; forwarded
//! queries and their replies pass through as bytes, unparsed.
//!
//! Hand-written instead of hickory-proto: a question and two record types are about
//! 150 lines, every read is bounds-checked (no index can panic, see the fuzz test),
//! and the server stays free of an async stack and its dependency tree.

use std::net::{Ipv4Addr, Ipv6Addr};

pub const TYPE_A: u16 = 1;
pub const TYPE_PTR: u16 = 12;
pub const TYPE_AAAA: u16 = 28;
pub const CLASS_IN: u16 = 1;

pub const NOERROR: u8 = 0;
pub const FORMERR: u8 = 1;
pub const SERVFAIL: u8 = 2;
pub const NXDOMAIN: u8 = 3;
pub const NOTIMP: u8 = 4;
pub const REFUSED: u8 = 5;

/// Docker's embedded DNS answers with a TTL of 600 s.
const TTL: u32 = 600;
const HEADER: usize = 12;

/// One parsed query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    pub id: u16,
    /// The query's flags word (opcode and RD are echoed in the response).
    pub flags: u16,
    /// The name asked for, lowercased, without the trailing dot.
    pub name: String,
    pub qtype: u16,
    pub qclass: u16,
    /// The question section as received (name, type, class), echoed back.
    pub question: Vec<u8>,
}

/// What to do with a datagram that is not a query we can read.
#[derive(Debug, PartialEq, Eq)]
pub enum Bad {
    /// Not even a header, or a response: drop it.
    Drop,
    /// Answer with this rcode and the query's id and flags.
    Reply { id: u16, flags: u16, rcode: u8 },
}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*b.get(at)?, *b.get(at + 1)?]))
}

/// Reads the header and the single question of a query.
pub fn parse_query(b: &[u8]) -> Result<Query, Bad> {
    let (Some(id), Some(flags), Some(qdcount)) = (u16_at(b, 0), u16_at(b, 2), u16_at(b, 4)) else {
        return Err(Bad::Drop);
    };
    if flags & 0x8000 != 0 {
        return Err(Bad::Drop); // a response: never answer those (no loops)
    }
    let reply = |rcode| Bad::Reply { id, flags, rcode };
    if (flags >> 11) & 0xf != 0 {
        return Err(reply(NOTIMP)); // only standard queries
    }
    if qdcount != 1 {
        return Err(reply(FORMERR));
    }
    let mut at = HEADER;
    let mut labels: Vec<String> = Vec::new();
    let mut total = 0usize;
    loop {
        let len = *b.get(at).ok_or(reply(FORMERR))? as usize;
        at += 1;
        if len == 0 {
            break;
        }
        // Compression pointers (top bits 11) and the reserved forms (01, 10) have no
        // place in a query's only question.
        if len > 63 {
            return Err(reply(FORMERR));
        }
        total += len + 1;
        if total > 255 {
            return Err(reply(FORMERR));
        }
        let label = b.get(at..at + len).ok_or(reply(FORMERR))?;
        labels.push(String::from_utf8_lossy(label).to_ascii_lowercase());
        at += len;
    }
    let (Some(qtype), Some(qclass)) = (u16_at(b, at), u16_at(b, at + 2)) else {
        return Err(reply(FORMERR));
    };
    let question = b[HEADER..at + 4].to_vec();
    Ok(Query {
        id,
        flags,
        name: labels.join("."),
        qtype,
        qclass,
        question,
    })
}

/// An answer record's data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rdata {
    A(Ipv4Addr),
    Aaaa(Ipv6Addr),
    Ptr(String),
}

fn push_name(out: &mut Vec<u8>, name: &str) {
    for label in name.split('.').filter(|l| !l.is_empty()) {
        let l = &label.as_bytes()[..label.len().min(63)];
        out.push(l.len() as u8);
        out.extend_from_slice(l);
    }
    out.push(0);
}

/// A response to `q`: its id, opcode and RD bit, QR and RA set, AA when we answer
/// for our own names, the question echoed, then `answers` (each owned by the
/// question's name, through a pointer to it).
pub fn response(q: &Query, rcode: u8, authoritative: bool, answers: &[Rdata]) -> Vec<u8> {
    let mut out = Vec::with_capacity(64 + answers.len() * 16);
    out.extend_from_slice(&q.id.to_be_bytes());
    let mut flags = 0x8000 | (q.flags & 0x7900) | 0x0080 | u16::from(rcode & 0xf);
    if authoritative {
        flags |= 0x0400;
    }
    out.extend_from_slice(&flags.to_be_bytes());
    out.extend_from_slice(&1u16.to_be_bytes());
    out.extend_from_slice(&(answers.len() as u16).to_be_bytes());
    out.extend_from_slice(&[0, 0, 0, 0]);
    out.extend_from_slice(&q.question);
    for a in answers {
        out.extend_from_slice(&[0xc0, HEADER as u8]); // the question's name
        let (kind, data) = match a {
            Rdata::A(ip) => (TYPE_A, ip.octets().to_vec()),
            Rdata::Aaaa(ip) => (TYPE_AAAA, ip.octets().to_vec()),
            Rdata::Ptr(name) => {
                let mut d = Vec::new();
                push_name(&mut d, name);
                (TYPE_PTR, d)
            }
        };
        out.extend_from_slice(&kind.to_be_bytes());
        out.extend_from_slice(&CLASS_IN.to_be_bytes());
        out.extend_from_slice(&TTL.to_be_bytes());
        out.extend_from_slice(&(data.len() as u16).to_be_bytes());
        out.extend_from_slice(&data);
    }
    out
}

/// A bare response (no question) for a query we could not read.
pub fn error_response(id: u16, flags: u16, rcode: u8) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER);
    out.extend_from_slice(&id.to_be_bytes());
    let flags = 0x8000 | (flags & 0x7900) | 0x0080 | u16::from(rcode & 0xf);
    out.extend_from_slice(&flags.to_be_bytes());
    out.extend_from_slice(&[0; 8]);
    out
}

/// The address a reverse name (`4.3.2.1.in-addr.arpa`) asks about.
pub fn ptr_addr(name: &str) -> Option<Ipv4Addr> {
    let rest = name.strip_suffix(".in-addr.arpa")?;
    let o: Vec<u8> = rest
        .split('.')
        .map(|p| p.parse().ok())
        .collect::<Option<Vec<u8>>>()?;
    match o.as_slice() {
        [d, c, b, a] => Some(Ipv4Addr::new(*a, *b, *c, *d)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A query as a stub resolver sends it (RD set, one EDNS OPT record).
    fn query(name: &str, qtype: u16) -> Vec<u8> {
        let mut b = vec![0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 1];
        push_name(&mut b, name);
        b.extend_from_slice(&qtype.to_be_bytes());
        b.extend_from_slice(&CLASS_IN.to_be_bytes());
        b.extend_from_slice(&[0, 0, 41, 0x10, 0, 0, 0, 0, 0, 0, 0]);
        b
    }

    #[test]
    fn reads_a_question_and_answers_it() {
        let q = parse_query(&query("Web.Example", TYPE_A)).unwrap();
        assert_eq!(
            (q.id, q.name.as_str(), q.qtype),
            (0x1234, "web.example", TYPE_A)
        );
        let r = response(&q, NOERROR, true, &[Rdata::A(Ipv4Addr::new(10, 1, 2, 3))]);
        assert_eq!(&r[..2], &[0x12, 0x34]);
        // QR, AA, RD, RA; rcode 0; one question, one answer.
        assert_eq!(u16::from_be_bytes([r[2], r[3]]), 0x8580);
        assert_eq!(&r[4..8], &[0, 1, 0, 1]);
        assert_eq!(&r[r.len() - 4..], &[10, 1, 2, 3]);
        let ptr = response(&q, NOERROR, true, &[Rdata::Ptr("web".into())]);
        assert!(ptr.ends_with(&[3, b'w', b'e', b'b', 0]));
        let nx = response(&q, NXDOMAIN, false, &[]);
        assert_eq!(nx[3] & 0xf, NXDOMAIN);
        assert_eq!(&nx[6..8], &[0, 0]);
    }

    #[test]
    fn refuses_what_it_cannot_read() {
        assert_eq!(parse_query(&[1, 2, 3]), Err(Bad::Drop));
        let mut resp = query("a", TYPE_A);
        resp[2] |= 0x80;
        assert_eq!(parse_query(&resp), Err(Bad::Drop));
        let mut ptr = query("a", TYPE_A);
        ptr[12] = 0xc0; // a compression pointer as the question's name
        assert!(matches!(
            parse_query(&ptr),
            Err(Bad::Reply { rcode: FORMERR, .. })
        ));
        let mut update = query("a", TYPE_A);
        update[2] = 0x28; // opcode 5
        assert!(matches!(
            parse_query(&update),
            Err(Bad::Reply { rcode: NOTIMP, .. })
        ));
        let truncated = &query("abc", TYPE_A)[..15];
        assert!(matches!(
            parse_query(truncated),
            Err(Bad::Reply { rcode: FORMERR, .. })
        ));
        assert_eq!(
            ptr_addr("4.3.2.10.in-addr.arpa"),
            Some(Ipv4Addr::new(10, 2, 3, 4))
        );
        assert_eq!(ptr_addr("4.3.2.in-addr.arpa"), None);
    }

    /// Random and mutated inputs never panic (a cheap, deterministic fuzz run).
    #[test]
    fn arbitrary_bytes_never_panic() {
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let seed = query("some.name.example", TYPE_AAAA);
        for i in 0..200_000 {
            let mut b = if i % 2 == 0 {
                seed.clone()
            } else {
                vec![0; (next() % 80) as usize]
            };
            let flips = 1 + next() % 6;
            for _ in 0..flips {
                if b.is_empty() {
                    break;
                }
                let at = (next() % b.len() as u64) as usize;
                b[at] = next() as u8;
            }
            b.truncate((next() % (b.len() as u64 + 1)) as usize);
            if let Ok(q) = parse_query(&b) {
                let _ = response(&q, NOERROR, true, &[Rdata::Ptr(q.name.clone())]);
            }
        }
    }
}
