//! Redis's data-set fingerprint (DEBUG DIGEST and DIGEST-VALUE): 20 bytes
//! computed from SHA1s of keys, values and TTL presence exactly as Redis 7.0's
//! debug.c does, so the same data gives the same hex on Ember and on Redis and
//! two servers (a primary and its replica, Ember and Redis) can be compared
//! with one command each.
//!
//! Two ways of folding a SHA1 into a digest: *xor* (order does not matter:
//! set members, hash fields, keys of a database) and *mix* (xor, then the SHA1
//! of the result: order matters, as for list elements and stream entries).
//! Redis iterates its own encodings, which always yield the same logical
//! content, so only the logical content enters the digest.

use super::table::Entry;
use super::Value;
use sha1_smol::Sha1;

pub type Digest = [u8; 20];

/// Redis's object type numbers (OBJ_STRING ...), which enter the digest.
fn type_code(v: &Value) -> u32 {
    match v {
        Value::Str(_) | Value::Int(_) | Value::Raw(_) => 0,
        Value::List(_) => 1,
        Value::Set(_) => 2,
        Value::ZSet(_) => 3,
        Value::Hash(_) => 4,
        Value::Module(_) => 5,
        Value::Stream(_) => 6,
    }
}

/// digest ^= SHA1(data)
pub fn xor(digest: &mut Digest, data: &[u8]) {
    let hash = Sha1::from(data).digest().bytes();
    digest.iter_mut().zip(hash).for_each(|(d, h)| *d ^= h);
}

/// digest = SHA1(digest ^ SHA1(data))
pub fn mix(digest: &mut Digest, data: &[u8]) {
    xor(digest, data);
    *digest = Sha1::from(&digest[..]).digest().bytes();
}

/// An element digest (a mix of its parts from zero) xored into `digest`:
/// how Redis folds the unordered (member, score) and (field, value) pairs.
fn xor_pair(digest: &mut Digest, a: &[u8], b: &[u8]) {
    let mut ele = [0u8; 20];
    mix(&mut ele, a);
    mix(&mut ele, b);
    xor(digest, &ele);
}

/// Redis's xorObjectDigest: folds a value (and whether it has a TTL) into
/// `digest`. DEBUG DIGEST-VALUE is this from zero for each key.
pub fn value(digest: &mut Digest, v: &Value, has_ttl: bool) {
    mix(digest, &type_code(v).to_be_bytes());
    match v {
        Value::Str(_) | Value::Int(_) | Value::Raw(_) => {
            let mut buf = itoa::Buffer::new();
            if let Some(b) = v.as_bytes(&mut buf) {
                mix(digest, b);
            }
        }
        Value::List(l) => l.iter().for_each(|e| mix(digest, e)),
        Value::Set(s) => s.iter().for_each(|m| m.with_bytes(|b| xor(digest, b))),
        Value::ZSet(z) => {
            for (m, score) in z.iter() {
                // Redis prints scores with "%.17g" (inf as "inf") here.
                xor_pair(digest, m, crate::util::float::fmt_g17(score).as_bytes());
            }
        }
        Value::Hash(h) => h.iter().for_each(|(f, val)| xor_pair(digest, f, val)),
        Value::Stream(s) => {
            s.range(
                super::stream::StreamId::MIN,
                super::stream::StreamId::MAX,
                false,
                |id, entry| {
                    mix(digest, format!("{}.{}", id.ms, id.seq).as_bytes());
                    for (f, val) in entry.pairs() {
                        mix(digest, f);
                        mix(digest, val);
                    }
                    true
                },
            );
        }
        // Redis asks the module's digest callback; Ember's module values are
        // opaque bytes owned by the module, so their bytes are the content.
        Value::Module(m) => xor(digest, &m.data),
    }
    if has_ttl {
        xor(digest, b"!!expire!!");
    }
}

/// The digest of one key and its value, as it enters the data-set digest.
pub fn entry(e: &Entry) -> Digest {
    let mut d = [0u8; 20];
    mix(&mut d, e.key.as_slice());
    value(&mut d, &e.value, e.expire_at().is_some());
    d
}

/// Adds one key's digest ([`entry`]) to its database's sum: Redis xors the
/// SHA1 of each key digest, so the order of keys does not matter.
pub fn add_key(db_sum: &mut Digest, key_digest: &Digest) {
    xor(db_sum, key_digest);
}

/// Folds one database's key sum into the data-set digest the way
/// computeDatasetDigest does: empty databases are skipped, the others mix in
/// their number first so moving data between databases shows.
pub fn fold_db(total: &mut Digest, db: usize, db_sum: &Digest, nonempty: bool) {
    if !nonempty {
        return;
    }
    mix(total, &(db as u32).to_be_bytes());
    total.iter_mut().zip(db_sum).for_each(|(t, s)| *t ^= s);
}

/// Lowercase hex, as DEBUG DIGEST prints it.
pub fn hex(d: &Digest) -> String {
    d.iter().map(|b| format!("{b:02x}")).collect()
}
