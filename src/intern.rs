//! Names from the log, stored once: bytes -> `Sym`.
//!
//! Each breakdown (database, user, application, host) has its own
//! interner, with a fixed capacity. Once it is full, new names map to
//! `Sym::OTHER` and are counted as `(other)`, so a flood of distinct names
//! (a scan from many addresses, guessed role names) cannot grow memory
//! without bound.

use std::collections::HashMap;

use foldhash::fast::RandomState;

use crate::bytes;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct Sym(pub(crate) u32);

impl Sym {
    /// Names past the capacity.
    pub(crate) const OTHER: Sym = Sym(0);
    /// No value: an application_name the client did not set, say.
    pub(crate) const UNSET: Sym = Sym(1);
}

pub(crate) struct Interner {
    map: HashMap<Box<[u8]>, Sym, RandomState>,
    names: Vec<Box<[u8]>>,
    capacity: usize,
    /// The name interned last: logs repeat names line after line, and a
    /// comparison costs less than hashing.
    last: Option<Sym>,
    /// Distinct names that did not fit.
    pub(crate) overflowed: bool,
}

impl Interner {
    pub(crate) fn new(capacity: usize) -> Interner {
        Interner {
            map: HashMap::default(),
            names: vec![b"(other)".to_vec().into(), b"(unset)".to_vec().into()],
            capacity,
            last: None,
            overflowed: false,
        }
    }

    pub(crate) fn intern(&mut self, name: &[u8]) -> Sym {
        if let Some(last) = self.last
            && bytes::eq(&self.names[last.0 as usize], name)
        {
            return last;
        }
        if let Some(&sym) = self.map.get(name) {
            self.last = Some(sym);
            return sym;
        }
        if self.map.len() >= self.capacity {
            self.overflowed = true;
            return Sym::OTHER;
        }
        let sym = Sym(self.names.len() as u32);
        self.names.push(name.into());
        self.map.insert(name.into(), sym);
        self.last = Some(sym);
        sym
    }

    pub(crate) fn name(&self, sym: Sym) -> &[u8] {
        &self.names[sym.0 as usize]
    }

    /// The number of symbols handed out, reserved ones included.
    pub(crate) fn len(&self) -> usize {
        self.names.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_name_same_sym_and_capacity() {
        let mut i = Interner::new(2);
        let a = i.intern(b"a");
        assert_eq!(i.intern(b"a"), a);
        let b = i.intern(b"b");
        assert_ne!(a, b);
        assert_eq!(i.intern(b"a"), a);
        assert_eq!(i.intern(b"b"), b);
        assert_eq!(i.intern(b"c"), Sym::OTHER);
        assert_eq!(i.intern(b"(other)"), Sym::OTHER);
        assert_eq!(i.intern(b"b"), b);
        assert!(i.overflowed);
        assert_eq!(i.name(b), b"b");
        assert_eq!(i.name(Sym::OTHER), b"(other)");
        assert_eq!(i.name(Sym::UNSET), b"(unset)");
    }
}
