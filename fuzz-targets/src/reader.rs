//! A reader of fuzz input that never fails: past the end it reads zeros and empty
//! slices, so every input, however short, is a complete script. The fuzzer then
//! spends its time on what the bytes mean to linli, not on a format of their own.

pub(crate) struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    pub fn new(data: &'a [u8]) -> Self {
        Self { rest: data }
    }

    pub fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }

    pub fn byte(&mut self) -> u8 {
        match self.rest.split_first() {
            Some((&byte, rest)) => {
                self.rest = rest;
                byte
            }
            None => 0,
        }
    }

    /// A choice among `count` alternatives (one at least): their index.
    pub fn below(&mut self, count: usize) -> usize {
        usize::from(self.byte()) % count.max(1)
    }

    /// Eight bytes, big-endian: the extreme sequence numbers overflow would hide in.
    pub fn u64(&mut self) -> u64 {
        (0..8).fold(0, |value, _| (value << 8) | u64::from(self.byte()))
    }

    /// Up to `len` bytes: fewer when the input ends first.
    pub fn take(&mut self, len: usize) -> &'a [u8] {
        let (taken, rest) = self.rest.split_at(len.min(self.rest.len()));
        self.rest = rest;
        taken
    }

    /// Bytes prefixed by their length (two bytes, big-endian), cut short by the input's end.
    pub fn sized(&mut self) -> &'a [u8] {
        let len = usize::from(u16::from_be_bytes([self.byte(), self.byte()]));
        self.take(len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_past_the_end_as_zeros_and_cuts_slices_short() {
        let mut reader = Reader::new(&[0, 3, 7, 8]);
        assert_eq!(reader.sized(), &[7, 8]);
        assert!(reader.is_empty());
        assert_eq!((reader.byte(), reader.u64(), reader.below(3)), (0, 0, 0));
        assert_eq!(reader.take(5), &[] as &[u8]);
    }
}
