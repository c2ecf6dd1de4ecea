//! A hand-written scanner for the compressed-state shapes Home Assistant writes
//! (`subscribe_entities` diffs and snapshot entries), in front of the serde decoders.
//!
//! serde_json reads these small objects through its generic visitor machinery: every key is
//! matched through a field visitor, every value goes through `Option`/`Result` layers, and a diff
//! of 150 bytes cost about 4,600 instructions to decode (`docs/performance.md`). The scanner
//! walks the exact shape instead: compact keys matched as byte strings, strings without escapes
//! borrowed as they are, epoch seconds read from their digits.
//!
//! It understands only the shape a compact encoder writes and **declines** (`None`) anything
//! else: a string with an escape, a `null` where a value may be absent, an exponent, more than
//! 15 significant digits, an unknown or repeated key. The caller then decodes the same text
//! with serde, so whatever the scanner returns is exactly what serde returns, and every error
//! message is serde's. Attribute values are kept raw, checked by [`value_len`], which walks the
//! whole JSON grammar and declines only what it does not check itself (a string with an escape,
//! nesting deeper than 64); serde_json checks those. A fresh serde_json reader per value had
//! been a fifth of a snapshot's decoding, and its bracket stack allocated for every value nested
//! two levels deep.
//!
//! Strings with escapes are declined rather than decoded here: Home Assistant's encoder escapes
//! only quotes, backslashes and control characters, so they are rare, and decoding them in the
//! scanner cost every other string about 6% more instructions (measured, then dropped).

mod events;

use std::borrow::Cow;

use serde_json::value::RawValue;
use wide::u8x16;

pub(crate) use events::{
    BusEvent, bus_event_message, event, state_change, state_changed_event_prefix_into, state_views, state_views_each,
    success_message, success_state_list_each,
};

use crate::compressed::{
    AttrPatch, CompressedEvent, CompressedState, ContextPatch, DiffAdditions, DiffRemovals, EntityKey, StateDiff,
};
use crate::raw::RawJson;
use crate::timestamp::Timestamp;

/// Room for a diff's or a state's attributes up front, as the serde decoder gives them.
const ATTRS_EXPECTED: usize = 4;

/// A position in a JSON text, moved forward by what is read.
pub(crate) struct Cursor<'a> {
    text: &'a str,
    pos: usize,
    /// The whole text is known to be valid JSON (it is a [`RawJson`]'s): values kept raw are
    /// then only delimited ([`checked_value_len`]), not checked again.
    checked: bool,
    /// The last ISO 8601 timestamp read and its value. Home Assistant writes one instant several
    /// times over: a change's `last_changed`, `last_reported` and `last_updated`, and the
    /// event's `time_fired`, are mostly the same text, which is then compared, not parsed again.
    last_time: Option<(&'a str, Timestamp)>,
}

impl<'a> Cursor<'a> {
    pub(crate) fn new(text: &'a str) -> Self {
        Cursor { text, pos: 0, checked: false, last_time: None }
    }

    /// A cursor over a text known to be one valid JSON value (a [`RawJson`]'s).
    pub(crate) fn over_checked(text: &'a str) -> Self {
        Cursor { text, pos: 0, checked: true, last_time: None }
    }

    /// The text not read yet.
    pub(crate) fn rest(&self) -> &'a str {
        &self.text[self.pos..]
    }

    /// Whether only whitespace is left.
    pub(crate) fn at_end(&mut self) -> bool {
        self.peek().is_none()
    }

    fn skip_whitespace(&mut self) {
        while let Some(b' ' | b'\n' | b'\r' | b'\t') = self.text.as_bytes().get(self.pos) {
            self.pos += 1;
        }
    }

    /// The next byte that is not whitespace, not consumed.
    pub(crate) fn peek(&mut self) -> Option<u8> {
        self.skip_whitespace();
        self.text.as_bytes().get(self.pos).copied()
    }

    /// Consumes `byte` (after whitespace), or declines.
    pub(crate) fn eat(&mut self, byte: u8) -> Option<()> {
        (self.peek()? == byte).then(|| self.pos += 1)
    }

    /// Consumes `word` (after whitespace) if the text goes on with it.
    /// (A word of known length is compared as one integer, not through `memcmp`.)
    fn eat_word<const N: usize>(&mut self, word: &[u8; N]) -> bool {
        self.skip_whitespace();
        let found = self.text.as_bytes()[self.pos..].first_chunk::<N>().is_some_and(|text| same_bytes(text, word));
        if found {
            self.pos += N;
        }
        found
    }

    /// Walking an object or array whose opening bracket was read: `Some(true)` when a member
    /// follows (the comma before it consumed unless it is the `first`), `Some(false)` when
    /// `close` ends it (consumed), `None` for anything else.
    pub(crate) fn next_member(&mut self, close: u8, first: bool) -> Option<bool> {
        let byte = self.peek()?;
        if byte == close {
            self.pos += 1;
            return Some(false);
        }
        if first {
            return Some(true);
        }
        (byte == b',').then(|| self.pos += 1)?;
        Some(true)
    }

    /// A string without escapes, borrowed.
    pub(crate) fn plain_str(&mut self) -> Option<&'a str> {
        self.eat(b'"')?;
        let start = self.pos;
        let len = plain_len(&self.text.as_bytes()[start..])?;
        self.pos = start + len + 1;
        Some(&self.text[start..start + len])
    }

    /// An object key without escapes and the colon after it.
    pub(crate) fn key(&mut self) -> Option<&'a str> {
        let key = self.plain_str()?;
        self.eat(b':')?;
        Some(key)
    }

    /// [`key`](Self::key) for the compact shapes, whose keys are mostly one or two letters (`s`,
    /// `c`, `lc`, `+`): such a key written directly before its colon is recognised from the four
    /// or five bytes `"s":` or `"lc":`, compared in place, without the string search that
    /// [`plain_str`](Self::plain_str) sets up for a string of any length. Anything else takes
    /// `key`. Only where short keys are the rule: before the longer keys of full states and
    /// attributes the test is wasted, which cost `state_changed` decoding 4–8% more
    /// instructions when `key` itself did it (measured).
    #[inline(always)]
    fn short_key(&mut self) -> Option<&'a str> {
        self.skip_whitespace();
        let bytes = &self.text.as_bytes()[self.pos..];
        // A byte that stands for itself inside a JSON string: printable ASCII, neither the quote
        // nor the escape character.
        let plain = |b: u8| (0x20..0x80).contains(&b) && b != b'"' && b != b'\\';
        if let Some(&[b'"', a, close, colon, after]) = bytes.first_chunk::<5>()
            && plain(a)
        {
            if close == b'"' && colon == b':' {
                let key = &self.text[self.pos + 1..self.pos + 2];
                self.pos += 4;
                return Some(key);
            }
            if plain(close) && colon == b'"' && after == b':' {
                let key = &self.text[self.pos + 1..self.pos + 3];
                self.pos += 5;
                return Some(key);
            }
        }
        self.key()
    }

    /// `null` (`Some(None)`) or a string without escapes.
    fn nullable_str(&mut self) -> Option<Option<Cow<'a, str>>> {
        if self.eat_word(b"null") {
            return Some(None);
        }
        Some(Some(Cow::Borrowed(self.plain_str()?)))
    }

    /// Any JSON value, kept raw: checked by [`value_len`] when it vouches for it, else by
    /// serde_json.
    fn raw_value(&mut self) -> Option<RawJson<'a>> {
        self.skip_whitespace();
        let bytes = &self.text.as_bytes()[self.pos..];
        let len = if self.checked { checked_value_len(bytes) } else { value_len(bytes) };
        if let Some(len) = len {
            let text = &self.text[self.pos..self.pos + len];
            self.pos += len;
            return Some(RawJson::checked(text));
        }
        self.serde_value::<&RawValue>().map(RawJson::borrowed)
    }

    /// The value at the cursor decoded by serde_json, which the cursor then moves past.
    pub(crate) fn serde_value<T: serde::Deserialize<'a>>(&mut self) -> Option<T> {
        let mut values = serde_json::Deserializer::from_str(self.rest()).into_iter::<T>();
        let value = values.next()?.ok()?;
        self.pos += values.byte_offset();
        Some(value)
    }

    /// How far the cursor has read.
    pub(crate) fn offset(&self) -> usize {
        self.pos
    }

    /// Epoch seconds written as plain digits with an optional fraction whose digits, read as one
    /// integer, stay within 2^53: then that integer is exact as a float and the value is one
    /// correctly rounded division by an exact power of ten, as serde_json (with or without its
    /// `float_roundtrip` feature) and the standard library compute it. Home Assistant's
    /// microsecond timestamps (16 digits) qualify. Anything else is declined.
    fn epoch_secs(&mut self) -> Option<Timestamp> {
        const POW10: [f64; 20] = [
            1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18,
            1e19,
        ];
        // Nineteen digits always fit a u64.
        const MAX_DIGITS: usize = 19;
        self.skip_whitespace();
        let bytes = &self.text.as_bytes()[self.pos..];
        let (whole, seconds) = leading_digits(bytes);
        if whole == 0 || whole > MAX_DIGITS || (whole > 1 && bytes[0] == b'0') {
            return None;
        }
        let mut len = whole;
        let (mut fraction, mut fraction_value) = (0, 0);
        if bytes.get(whole) == Some(&b'.') {
            (fraction, fraction_value) = leading_digits(&bytes[whole + 1..]);
            if fraction == 0 || whole + fraction > MAX_DIGITS {
                return None;
            }
            len += 1 + fraction;
        }
        if matches!(bytes.get(len), Some(b'e' | b'E')) {
            return None;
        }
        // Below 2^33 seconds (the year 2242) with at most six decimals, Home Assistant's case:
        // the float of the digits lies within half a microsecond of them (its ulp is below one
        // microsecond), so `from_epoch_secs` rounds it to exactly the microseconds they spell,
        // which are then computed without the float.
        if seconds < 1 << 33 && fraction <= 6 {
            self.pos += len;
            let micros = seconds * 1_000_000 + fraction_value * POW10_U64[6 - fraction];
            return Some(Timestamp::from_micros(micros as i64));
        }
        let mantissa = seconds * POW10_U64[fraction] + fraction_value;
        if mantissa > 1 << 53 {
            return None;
        }
        self.pos += len;
        Timestamp::from_epoch_secs(mantissa as f64 / POW10[fraction]).ok()
    }

    /// An entity id used as an object key, validated.
    pub(crate) fn entity_key(&mut self) -> Option<EntityKey<'a>> {
        EntityKey::new(self.key()?).ok()
    }

    /// An attributes object, values raw.
    fn attributes(&mut self) -> Option<AttrPatch<'a>> {
        self.attributes_into(Vec::with_capacity(ATTRS_EXPECTED))
    }

    /// An attributes object, values raw, pushed into `out` (emptied first), whose buffer a
    /// caller decoding many states can hand from one to the next.
    pub(crate) fn attributes_into(&mut self, mut out: Vec<(Cow<'a, str>, RawJson<'a>)>) -> Option<AttrPatch<'a>> {
        self.eat(b'{')?;
        out.clear();
        let mut first = true;
        while self.next_member(b'}', first)? {
            first = false;
            let key = self.key()?;
            out.push((Cow::Borrowed(key), self.raw_value()?));
        }
        Some(AttrPatch(out))
    }

    /// A context: a bare id, or an object of `id`, `parent_id`, `user_id`.
    fn context(&mut self) -> Option<ContextPatch<'a>> {
        if self.peek()? == b'"' {
            return Some(ContextPatch {
                id: Some(Cow::Borrowed(self.plain_str()?)),
                bare_id: true,
                ..Default::default()
            });
        }
        self.eat(b'{')?;
        let mut out = ContextPatch::default();
        let mut first = true;
        while self.next_member(b'}', first)? {
            first = false;
            match self.short_key()? {
                "id" if out.id.is_none() => out.id = Some(Cow::Borrowed(self.plain_str()?)),
                "parent_id" if out.parent_id.is_none() => out.parent_id = Some(self.nullable_str()?),
                "user_id" if out.user_id.is_none() => out.user_id = Some(self.nullable_str()?),
                _ => return None,
            }
        }
        Some(out)
    }

    /// A full state in compressed form (an `a` entry). Its fields are those of a diff's `+`
    /// ([`additions`](Self::additions)), but reading it through `additions` and converting cost
    /// the snapshot load 0.8% more instructions (measured), so the loop is written twice.
    pub(crate) fn compressed_state(&mut self) -> Option<CompressedState<'a>> {
        self.compressed_state_into(&mut Vec::new())
    }

    /// [`compressed_state`](Self::compressed_state), its attributes pushed into `spare`'s buffer
    /// (taken from it, so `spare` is left empty).
    fn compressed_state_into(&mut self, spare: &mut Vec<(Cow<'a, str>, RawJson<'a>)>) -> Option<CompressedState<'a>> {
        self.eat(b'{')?;
        let (mut state, mut attributes, mut context, mut last_changed, mut last_updated) =
            (None, None, None, None, None);
        let mut first = true;
        while self.next_member(b'}', first)? {
            first = false;
            match self.short_key()? {
                "s" if state.is_none() => state = Some(Cow::Borrowed(self.plain_str()?)),
                "a" if attributes.is_none() => attributes = Some(self.attributes_into(std::mem::take(spare))?),
                "c" if context.is_none() => context = Some(self.context()?),
                "lc" if last_changed.is_none() => last_changed = Some(self.epoch_secs()?),
                "lu" if last_updated.is_none() => last_updated = Some(self.epoch_secs()?),
                _ => return None,
            }
        }
        Some(CompressedState {
            state: state?,
            attributes: attributes.unwrap_or_default(),
            context: context?,
            last_changed: last_changed?,
            last_updated,
        })
    }

    /// A full state in compressed form, read by the scanner when it knows the shape, else by
    /// serde; `None` when serde rejects it too.
    pub(crate) fn compressed_state_or_serde(
        &mut self,
        spare: &mut Vec<(Cow<'a, str>, RawJson<'a>)>,
    ) -> Option<CompressedState<'a>> {
        let start = self.pos;
        if let Some(state) = self.compressed_state_into(spare) {
            return Some(state);
        }
        self.pos = start;
        self.serde_value()
    }

    /// `+` of a change.
    fn additions(&mut self) -> Option<DiffAdditions<'a>> {
        self.eat(b'{')?;
        let mut add = DiffAdditions::default();
        let mut first = true;
        while self.next_member(b'}', first)? {
            first = false;
            match self.short_key()? {
                "s" if add.state.is_none() => add.state = Some(Cow::Borrowed(self.plain_str()?)),
                "a" if add.attributes.is_none() => add.attributes = Some(self.attributes()?),
                "c" if add.context.is_none() => add.context = Some(self.context()?),
                "lc" if add.last_changed.is_none() => add.last_changed = Some(self.epoch_secs()?),
                "lu" if add.last_updated.is_none() => add.last_updated = Some(self.epoch_secs()?),
                _ => return None,
            }
        }
        Some(add)
    }

    /// `-` of a change: `{"a":[keys]}`.
    fn removals(&mut self) -> Option<DiffRemovals<'a>> {
        self.eat(b'{')?;
        if self.short_key()? != "a" {
            return None;
        }
        self.eat(b'[')?;
        let mut attributes = Vec::new();
        let mut first = true;
        while self.next_member(b']', first)? {
            first = false;
            attributes.push(Cow::Borrowed(self.plain_str()?));
        }
        self.eat(b'}')?;
        Some(DiffRemovals { attributes })
    }

    /// One entity's change (a `c` entry).
    fn state_diff(&mut self) -> Option<StateDiff<'a>> {
        self.eat(b'{')?;
        let mut diff = StateDiff::default();
        let mut first = true;
        while self.next_member(b'}', first)? {
            first = false;
            match self.short_key()? {
                "+" if diff.additions.is_none() => diff.additions = Some(self.additions()?),
                "-" if diff.removals.is_none() => diff.removals = Some(self.removals()?),
                _ => return None,
            }
        }
        Some(diff)
    }

    /// An object keyed by entity id, each value read by `value`.
    fn keyed<T>(&mut self, mut value: impl FnMut(&mut Self) -> Option<T>) -> Option<Vec<(EntityKey<'a>, T)>> {
        self.eat(b'{')?;
        let mut out = Vec::with_capacity(1);
        let mut first = true;
        while self.next_member(b'}', first)? {
            first = false;
            let key = self.entity_key()?;
            out.push((key, value(self)?));
        }
        Some(out)
    }

    /// A whole compressed-state event object.
    pub(crate) fn compressed_event(&mut self) -> Option<CompressedEvent<'a>> {
        self.eat(b'{')?;
        let mut event = CompressedEvent::default();
        let (mut added, mut changed, mut removed) = (false, false, false);
        let mut first = true;
        while self.next_member(b'}', first)? {
            first = false;
            match self.short_key()? {
                "a" if !added => {
                    added = true;
                    event.added = self.keyed(Self::compressed_state)?;
                }
                "c" if !changed => {
                    changed = true;
                    event.changed = self.keyed(Self::state_diff)?;
                }
                "r" if !removed => {
                    removed = true;
                    event.removed = self.removed_ids()?;
                }
                _ => return None,
            }
        }
        Some(event)
    }

    /// `r`: an array of entity ids.
    fn removed_ids(&mut self) -> Option<Vec<EntityKey<'a>>> {
        self.eat(b'[')?;
        let mut out = Vec::new();
        let mut first = true;
        while self.next_member(b']', first)? {
            first = false;
            out.push(EntityKey::new(self.plain_str()?).ok()?);
        }
        Some(out)
    }
}

/// The compressed event at the start of `text` and the length it takes, if the scanner
/// understands it.
pub(crate) fn compressed_event_prefix(text: &str) -> Option<(CompressedEvent<'_>, usize)> {
    let mut cursor = Cursor::new(text);
    let event = cursor.compressed_event()?;
    Some((event, cursor.pos))
}

/// The length of the JSON value at the start of `bytes` (whitespace before it already skipped),
/// when it is one this checker vouches for: then serde_json accepts exactly that text as one
/// value. It walks the value's grammar in full (strings, numbers, literals, nesting) and
/// declines (`None`) what it does not check itself: a string with an escape (serde_json's
/// rules for `\u` escapes and surrogates are its own), or nesting deeper than [`MAX_DEPTH`]
/// (serde_json's limit is 128). Callers then let serde_json decide, so a declined value costs
/// only the time to find out. Brackets are tracked in a 64-bit word, one bit per open level.
pub(crate) fn value_len(bytes: &[u8]) -> Option<usize> {
    /// The deepest nesting the checker follows.
    const MAX_DEPTH: u32 = 64;
    let mut objects: u64 = 0; // bit d set: the container at depth d + 1 is an object
    let mut depth: u32 = 0;
    let mut pos = 0;
    loop {
        // A value starts at `pos` (whitespace skipped).
        match *bytes.get(pos)? {
            b'"' => pos = plain_end(bytes, pos + 1)? + 1,
            open @ (b'{' | b'[') => {
                if depth == MAX_DEPTH {
                    return None;
                }
                let object = open == b'{';
                objects = (objects << 1) | u64::from(object);
                depth += 1;
                pos = skip_json_whitespace(bytes, pos + 1);
                let close = if object { b'}' } else { b']' };
                if bytes.get(pos) == Some(&close) {
                    pos += 1;
                    depth -= 1;
                    objects >>= 1;
                } else if object {
                    pos = member_value_start(bytes, pos)?;
                    continue;
                } else {
                    continue;
                }
            }
            b't' => pos += literal_len(&bytes[pos..], b"true")?,
            b'f' => pos += literal_len(&bytes[pos..], b"false")?,
            b'n' => pos += literal_len(&bytes[pos..], b"null")?,
            b'-' | b'0'..=b'9' => pos += number_len(&bytes[pos..])?,
            _ => return None,
        }
        // A value ended at `pos`: a comma, or closing brackets, follow inside containers.
        loop {
            if depth == 0 {
                return Some(pos);
            }
            pos = skip_json_whitespace(bytes, pos);
            let object = objects & 1 == 1;
            match (*bytes.get(pos)?, object) {
                (b',', true) => {
                    pos = member_value_start(bytes, pos + 1)?;
                    break;
                }
                (b',', false) => {
                    pos = skip_json_whitespace(bytes, pos + 1);
                    break;
                }
                (b'}', true) | (b']', false) => {
                    pos += 1;
                    depth -= 1;
                    objects >>= 1;
                }
                _ => return None,
            }
        }
    }
}

/// The length of the JSON value at the start of `bytes` (whitespace before it skipped) in a
/// text known to be valid JSON: only delimited, by the brackets and quotes, not checked (that
/// was done when the text became a [`RawJson`]). `None` if the text ends first, which valid
/// JSON does not.
fn checked_value_len(bytes: &[u8]) -> Option<usize> {
    match *bytes.first()? {
        b'"' => Some(1 + string_end(&bytes[1..])? + 1),
        b'{' | b'[' => {
            let mut depth = 0_usize;
            let mut pos = 0;
            loop {
                match *bytes.get(pos)? {
                    b'"' => pos += 1 + string_end(&bytes[pos + 1..])?,
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth -= 1;
                        if depth == 0 {
                            return Some(pos + 1);
                        }
                    }
                    _ => {}
                }
                pos += 1;
            }
        }
        // A number or a literal: up to the delimiter after it.
        _ => Some(
            bytes
                .iter()
                .position(|b| matches!(b, b',' | b'}' | b']' | b' ' | b'\n' | b'\r' | b'\t'))
                .unwrap_or(bytes.len()),
        ),
    }
}

/// The position of the quote that closes a valid JSON string whose content starts `bytes`,
/// escapes stepped over.
fn string_end(bytes: &[u8]) -> Option<usize> {
    let mut pos = 0;
    loop {
        pos += quote_or_backslash(&bytes[pos..])?;
        if bytes[pos] == b'"' {
            return Some(pos);
        }
        pos += 2;
    }
}

/// The position of the first quote or backslash in `bytes`.
fn quote_or_backslash(bytes: &[u8]) -> Option<usize> {
    first_flagged(
        bytes,
        |v| v.simd_eq(u8x16::splat(b'"')) | v.simd_eq(u8x16::splat(b'\\')),
        |b| b == b'"' || b == b'\\',
    )
}

/// Where an object member's value starts (whitespace skipped), the member starting at `pos`
/// (whitespace before its key allowed); `None` unless the key is a string without escapes
/// followed by a colon. Inlined into [`value_len`]: as a call it cost a key about 50
/// instructions.
#[inline(always)]
fn member_value_start(bytes: &[u8], pos: usize) -> Option<usize> {
    let pos = skip_json_whitespace(bytes, pos);
    if bytes.get(pos) != Some(&b'"') {
        return None;
    }
    let mut colon = plain_end(bytes, pos + 1)? + 1;
    if bytes.get(colon) != Some(&b':') {
        colon = skip_json_whitespace(bytes, colon);
        if bytes.get(colon) != Some(&b':') {
            return None;
        }
    }
    Some(skip_json_whitespace(bytes, colon + 1))
}

/// The first position from `pos` that is not JSON whitespace.
fn skip_json_whitespace(bytes: &[u8], mut pos: usize) -> usize {
    while let Some(b' ' | b'\n' | b'\r' | b'\t') = bytes.get(pos) {
        pos += 1;
    }
    pos
}

/// `word`'s length when `bytes` starts with it.
fn literal_len(bytes: &[u8], word: &[u8]) -> Option<usize> {
    bytes.starts_with(word).then_some(word.len())
}

/// The length of the JSON number at the start of `bytes`:
/// `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`, the longest such prefix; `None` when
/// none starts there. What follows is the caller's to judge (`01` reads as `0`, then fails
/// there).
fn number_len(bytes: &[u8]) -> Option<usize> {
    let digits_from = |at: usize| bytes.get(at..).map_or(0, |b| b.iter().take_while(|c| c.is_ascii_digit()).count());
    let mut pos = usize::from(bytes.first() == Some(&b'-'));
    match bytes.get(pos)? {
        b'0' => pos += 1,
        b'1'..=b'9' => pos += digits_from(pos),
        _ => return None,
    }
    if bytes.get(pos) == Some(&b'.') {
        let n = digits_from(pos + 1);
        if n == 0 {
            return None;
        }
        pos += 1 + n;
    }
    if let Some(b'e' | b'E') = bytes.get(pos) {
        pos += 1;
        if let Some(b'+' | b'-') = bytes.get(pos) {
            pos += 1;
        }
        let n = digits_from(pos);
        if n == 0 {
            return None;
        }
        pos += n;
    }
    Some(pos)
}

/// Reads one byte of every 64-byte cache line of `text`'s first 4 KiB, so that the lines of a
/// text that is not in the caches are fetched together. The scanner's reads depend on one another
/// (where it reads next depends on what it read), so a cold text's lines otherwise arrive one miss
/// after another as the scan reaches them. A text the caller has just written (a socket read's)
/// is in the caches, and this costs it one load per line. Beyond 4 KiB the lines would not stay
/// in the first-level cache until the scan reaches them (a snapshot's text is read once either
/// way), so they are left to the hardware's sequential prefetch.
#[inline(always)]
pub(crate) fn touch_lines(text: &str) {
    const LINE: usize = 64;
    const REACH: usize = 4096;
    let bytes = &text.as_bytes()[..text.len().min(REACH)];
    let Some(&last) = bytes.last() else { return };
    // Every line holds one of the bytes LINE apart from the first, except perhaps the last line,
    // which holds the last byte. Four lines per step, their loads independent of one another.
    let mut sum = last;
    let mut quads = bytes.chunks_exact(4 * LINE);
    for quad in &mut quads {
        sum ^= quad[0] ^ quad[LINE] ^ quad[2 * LINE] ^ quad[3 * LINE];
    }
    for &byte in quads.remainder().iter().step_by(LINE) {
        sum ^= byte;
    }
    std::hint::black_box(sum);
}

/// A message id at the start of `text` as `Frame::parse` reads one (digits, no leading zero,
/// within `u64`) and the text after it.
pub(crate) fn message_id(text: &str) -> Option<(u64, &str)> {
    let (len, value) = leading_digits(text.as_bytes());
    if len == 0 || (len > 1 && text.starts_with('0')) {
        return None;
    }
    // Nineteen digits always fit; twenty may overflow, which `parse` tells.
    let id = if len < 20 { value } else { text[..len].parse().ok()? };
    Some((id, &text[len..]))
}

/// The powers of ten a `u64` holds, by exponent (a table: `u64::pow` is a loop).
const POW10_U64: [u64; 20] = {
    let mut table = [1; 20];
    let mut exponent = 1;
    while exponent < 20 {
        table[exponent] = table[exponent - 1] * 10;
        exponent += 1;
    }
    table
};

/// How many ASCII digits `bytes` starts with, and their value when there are at most 19 (more
/// overflow it: the value is then meaningless, and callers decline such runs). Eight bytes are
/// tested and converted at a time as one word: a byte by byte walk and fold had cost an epoch
/// timestamp (`1710928803.123456`) about 300 instructions (callgrind, 2026-12-06).
#[inline(always)]
fn leading_digits(bytes: &[u8]) -> (usize, u64) {
    const ZEROS: u64 = u64::from_le_bytes([b'0'; 8]);
    let (mut count, mut value) = (0, 0_u64);
    while let Some(chunk) = bytes.get(count..).and_then(<[u8]>::first_chunk::<8>) {
        // Each byte minus '0': a digit leaves 0..=9, anything else leaves a byte that either has
        // its top bit set already or gets it from adding 0x76 (10 + 0x76 = 0x80).
        let lanes = u64::from_le_bytes(*chunk).wrapping_sub(ZEROS);
        let not_digit = (lanes | lanes.wrapping_add(0x7676_7676_7676_7676)) & 0x8080_8080_8080_8080;
        let digits = (not_digit.trailing_zeros() / 8) as usize;
        if digits == 0 {
            return (count, value);
        }
        // The digits moved to the top bytes: the bytes below them read as leading zeros.
        value = value.wrapping_mul(POW10_U64[digits]).wrapping_add(eight_digits(lanes << (8 * (8 - digits))));
        count += digits;
        if digits < 8 {
            return (count, value);
        }
    }
    for &byte in &bytes[count..] {
        if !byte.is_ascii_digit() {
            break;
        }
        value = value.wrapping_mul(10).wrapping_add(u64::from(byte - b'0'));
        count += 1;
    }
    (count, value)
}

/// The number written by eight digit values (0..=9), one per byte, the first byte (the lowest)
/// the most significant: pairs, then quadruples, then the whole, each step one multiply.
fn eight_digits(lanes: u64) -> u64 {
    let pairs = (lanes.wrapping_mul(10) + (lanes >> 8)) & 0x00ff_00ff_00ff_00ff;
    let quads = (pairs.wrapping_mul(100) + (pairs >> 16)) & 0x0000_ffff_0000_ffff;
    (quads.wrapping_mul(10_000) + (quads >> 32)) & 0xffff_ffff
}

/// Whether `a` and `b` hold the same bytes, compared sixteen at a time (the last step overlapping
/// the one before): arrays of 32 bytes and more were compared through `memcmp`, a call per
/// literal key or timestamp.
#[inline(always)]
pub(crate) fn same_bytes<const N: usize>(a: &[u8; N], b: &[u8; N]) -> bool {
    if N < 16 {
        return a == b;
    }
    let word = |bytes: &[u8; N], at: usize| u128::from_le_bytes(*bytes[at..].first_chunk().expect("sixteen bytes"));
    (0..N / 16).all(|step| word(a, step * 16) == word(b, step * 16)) && word(a, N - 16) == word(b, N - 16)
}

/// The length of a string's content up to its closing quote, when it holds no escape and no
/// control character (which JSON forbids unescaped); `None` otherwise or when it does not end.
///
/// [`Cursor::plain_str`] searches through this, not [`plain_end`]: `plain_end` saves a string a
/// few instructions, yet `plain_str` switched back to this read faster in wall time
/// (`cargo xtask perf --base feb0eee --quick --suite wall`, 2026-12-06: `state/apply_frame/c1`
/// −3.0%, `proto/parse_state_changed_frame/median` −2.9%, the other decoding rows −0.8% to +0.9%).
fn plain_len(bytes: &[u8]) -> Option<usize> {
    let at = first_flagged(
        bytes,
        // A control character is a byte below 0x20: one that the minimum with 0x1f leaves as it is.
        |v| v.simd_eq(u8x16::splat(b'"')) | v.simd_eq(u8x16::splat(b'\\')) | v.min(u8x16::splat(0x1f)).simd_eq(v),
        |b| b == b'"' || b == b'\\' || b < 0x20,
    )?;
    (bytes[at] == b'"').then_some(at)
}

/// The position in `bytes` of the quote that closes a string whose content starts at `from`,
/// when the content holds no escape and no control character (which JSON forbids unescaped);
/// `None` otherwise or when it does not end. Sixteen bytes are tested at a time from `from`
/// itself, so a caller walking a text neither slices it nor sets up a chunk iterator per string,
/// and the last bytes of the text a byte at a time.
#[inline(always)]
fn plain_end(bytes: &[u8], from: usize) -> Option<usize> {
    let mut pos = from;
    while let Some(chunk) = bytes.get(pos..).and_then(<[u8]>::first_chunk::<16>) {
        let lanes = u8x16::new(*chunk);
        // A control character is a byte below 0x20: one that the minimum with 0x1f leaves as it is.
        let special = lanes.simd_eq(u8x16::splat(b'"'))
            | lanes.simd_eq(u8x16::splat(b'\\'))
            | lanes.min(u8x16::splat(0x1f)).simd_eq(lanes);
        let mask = special.to_bitmask();
        if mask != 0 {
            let at = pos + mask.trailing_zeros() as usize;
            return (bytes.get(at) == Some(&b'"')).then_some(at);
        }
        pos += 16;
    }
    let at = pos + bytes.get(pos..)?.iter().position(|&b| b == b'"' || b == b'\\' || b < 0x20)?;
    (bytes.get(at) == Some(&b'"')).then_some(at)
}

/// The position of the first byte of `bytes` that `flagged` (per byte) holds, sixteen bytes
/// tested at a time: `lanes_of` sets every bit of each lane whose byte is flagged (one SSE2
/// compare per condition on x86-64). Strings in Home Assistant's messages are mostly shorter
/// than sixteen bytes, so most searches take one step; the tail of the text shorter than a step
/// is searched a byte at a time.
#[inline(always)]
fn first_flagged(bytes: &[u8], lanes_of: impl Fn(u8x16) -> u8x16, flagged: impl Fn(u8) -> bool) -> Option<usize> {
    let mut chunks = bytes.chunks_exact(16);
    let mut start = 0;
    for chunk in &mut chunks {
        let lanes = u8x16::new(chunk.try_into().expect("sixteen bytes"));
        let special = lanes_of(lanes).to_bitmask();
        if special != 0 {
            return Some(start + special.trailing_zeros() as usize);
        }
        start += 16;
    }
    chunks.remainder().iter().position(|&b| flagged(b)).map(|at| start + at)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn serde_event(text: &str) -> CompressedEvent<'_> {
        serde_json::from_str(text).expect("valid compressed event")
    }

    fn scanned(text: &str) -> Option<CompressedEvent<'_>> {
        let (event, len) = compressed_event_prefix(text)?;
        assert_eq!(len, text.len(), "the scanner stops at the event's closing brace");
        Some(event)
    }

    /// What `message_id` read before it counted digits eight at a time.
    fn message_id_by_parse(text: &str) -> Option<(u64, &str)> {
        let (digits, rest) = text.split_at(text.bytes().take_while(u8::is_ascii_digit).count());
        if digits.len() > 1 && digits.starts_with('0') {
            return None;
        }
        Some((digits.parse().ok()?, rest))
    }

    #[test]
    fn message_ids_read_as_parse_reads_them() {
        let texts = [
            "",
            "}",
            "0}",
            "00}",
            "07,",
            "7",
            "42,\"type\"",
            "18446744073709551615}",
            "18446744073709551616}",
            "99999999999999999999}",
            "1234567890123456789}",
            "123456789012345678901}",
        ];

        let ids: Vec<_> = texts.iter().map(|t| message_id(t)).collect();

        assert_eq!(ids, texts.iter().map(|t| message_id_by_parse(t)).collect::<Vec<_>>());
    }

    proptest::proptest! {
        #[test]
        fn any_digit_run_reads_as_parse_reads_it(digits in "[0-9]{0,24}", after in "[,}a]?") {
            let text = format!("{digits}{after}");

            let id = message_id(&text);

            proptest::prop_assert_eq!(id, message_id_by_parse(&text));
        }
    }

    #[test]
    fn touching_lines_reads_texts_of_every_length_within_bounds() {
        let text = "x".repeat(4 * 4096);

        // Lengths around every step of the loop and past the 4 KiB reach; a read past a text's
        // end would panic.
        let lengths = (0..=1100).chain(4090..=4100).chain([text.len()]);
        let touched = lengths.map(|len| touch_lines(&text[..len])).count();

        assert_eq!(touched, 1101 + 11 + 1);
    }

    #[test]
    fn a_home_assistant_diff_scans_as_serde_decodes_it() {
        let text = r#"{"c":{"sensor.power":{"+":{"s":"12.5","c":"01HX","lu":1733412345.123456,"a":{"power":12.5,"unit":"W","list":[1,{"x":null}]}},"-":{"a":["old"]}}}}"#;

        let event = scanned(text);

        assert_eq!(event, Some(serde_event(text)));
    }

    #[test]
    fn a_snapshot_entry_scans_as_serde_decodes_it() {
        let text = r#"{"a":{"light.a":{"s":"on","a":{"brightness":255},"c":{"id":"01H","parent_id":null,"user_id":"u1"},"lc":1700000000,"lu":1700000000.5}},"r":["light.b"]}"#;

        let event = scanned(text);

        assert_eq!(event, Some(serde_event(text)));
    }

    #[test]
    fn whitespace_between_tokens_is_read() {
        let text = " {\n\"c\" : { \"light.a\" : { \"+\" : { \"s\" : \"on\" , \"lc\" : 1.5 } } } } ";

        let (event, _) = compressed_event_prefix(text).expect("scanned");

        assert_eq!(event, serde_event(text));
    }

    #[test]
    fn a_short_key_is_read_in_place_up_to_its_colon() {
        let mut cursor = Cursor::new(r#"{"lc":1.5}"#);
        cursor.eat(b'{').expect("an object");

        let key = cursor.short_key();

        assert_eq!((key, cursor.rest()), (Some("lc"), "1.5}"));
    }

    proptest::proptest! {
        #[test]
        fn short_key_reads_what_key_reads(key in "[\\x00-\\x7f\u{e9}]{0,3}", space in "[ ]?", after in "[:\"a1]{0,2}") {
            let text = format!("\"{key}\"{space}:{after}");
            let (mut short, mut any) = (Cursor::new(&text), Cursor::new(&text));

            let (read_short, read_any) = (short.short_key(), any.key());

            proptest::prop_assert_eq!(read_short, read_any);
            proptest::prop_assert_eq!(short.offset(), any.offset());
        }
    }

    #[test]
    fn shapes_it_does_not_know_are_declined() {
        let declined = [
            r#"{"c":{"light.a":{"+":{"s":"say \"hi\""}}}}"#,        // an escape
            r#"{"c":{"light.a":{"+":{"s":null}}}}"#,                // null for an absent value
            r#"{"c":{"light.a":{"+":{"s":"on","s":"off"}}}}"#,      // a repeated key
            r#"{"c":{"light.a":{"+":{"x":1}}}}"#,                   // an unknown key
            r#"{"c":{"light.a":{"+":{"lc":1.5e9}}}}"#,              // an exponent
            r#"{"c":{"light.a":{"+":{"lc":1234567890.1234567}}}}"#, // beyond 2^53
            r#"{"c":{"light.a":{"+":{"lc":-1.5}}}}"#,               // a sign
            r#"{"c":{"Light":{"+":{"s":"on"}}}}"#,                  // not an entity id
            r#"{"c":{"light.a":{"+":{"s":"on",}}}}"#,               // a trailing comma
            r#"{"c":{"light.a":{"+":{"lc":01.5}}}}"#,               // a leading zero
            r#"{"c":{"light.a":{"+":{"a":{"k":tru}}}}}"#,           // a bad attribute value
            r#"{"c":{"light.a":{"+":{"s":"on"}}}"#,                 // cut short
        ];

        let scans: Vec<_> = declined.iter().map(|text| compressed_event_prefix(text).is_some()).collect();

        assert_eq!(scans, vec![false; declined.len()]);
    }

    #[test]
    fn epochs_within_2_pow_53_read_as_serde_reads_them() {
        let texts = ["1733412345.123456", "9007199254.740992", "0.000000000000001", "0", "1733412345.5", "1733412345"];

        let pairs: Vec<_> = texts
            .iter()
            .map(|t| {
                let ours = Cursor::new(t).epoch_secs();
                let serde: Timestamp = serde_json::from_str(t).expect("a number");
                (ours, Some(serde))
            })
            .collect();

        assert!(pairs.iter().all(|(ours, serde)| ours == serde), "{pairs:?}");
    }

    proptest::proptest! {
        /// Around and below 2^33 seconds, with up to seven decimals: what the integer path and
        /// the float path read is what serde reads, and below 2^33 with at most six decimals
        /// (Home Assistant's timestamps) nothing is declined.
        #[test]
        fn epochs_near_and_below_2_pow_33_read_as_serde_reads_them(seconds in 0_u64..(1 << 33) + (1 << 20), fraction in "(\\.[0-9]{1,7})?") {
            let text = format!("{seconds}{fraction}");

            let ours = Cursor::new(&text).epoch_secs();

            let serde: Timestamp = serde_json::from_str(&text).expect("a number");
            let home_assistants = seconds < 1 << 33 && fraction.len() <= 7;
            proptest::prop_assert!(ours == Some(serde) || (ours.is_none() && !home_assistants), "{:?} against serde's {:?}", ours, serde);
        }

        /// Any text: the count and (up to 19 digits) the value a byte by byte walk gives.
        #[test]
        fn leading_digits_read_as_a_byte_walk(text in "[0-9]{0,24}[.e/:0-9\"a-z]{0,9}") {
            let bytes = text.as_bytes();

            let (count, value) = leading_digits(bytes);

            let walked = bytes.iter().take_while(|b| b.is_ascii_digit()).count();
            proptest::prop_assert_eq!(count, walked);
            if walked <= 19 {
                proptest::prop_assert_eq!(Some(value), text[..walked].parse::<u64>().ok().or((walked == 0).then_some(0)));
            }
        }
    }

    #[test]
    fn epoch_fractions_of_any_length_read_as_serde_reads_them() {
        let texts = [
            "1733412345.1",
            "1733412345.123",
            "1733412345.12345",
            "173341234.5123456",
            "12345678",
            "123456789",
            "1234567.8",
        ];

        let pairs: Vec<_> = texts
            .iter()
            .map(|t| (Cursor::new(t).epoch_secs(), Some(serde_json::from_str::<Timestamp>(t).expect("a number"))))
            .collect();

        assert!(pairs.iter().all(|(ours, serde)| ours == serde), "{pairs:?}");
    }

    #[test]
    fn plain_end_finds_the_closing_quote_in_any_lane() {
        let lens: Vec<_> = (0..70)
            .map(|n| plain_end(format!("{}\"rest", "é".repeat(n / 2) + &"x".repeat(n % 2)).as_bytes(), 0))
            .collect();

        let expected: Vec<_> = (0..70).map(|n| Some((n / 2) * 2 + n % 2)).collect();
        assert_eq!(lens, expected);
    }

    #[test]
    fn plain_end_stops_at_an_escape_or_control_character() {
        let texts =
            ["abcdefghij\\\"", "abc\\\"", "abcdefghijkl\nm\"", "a\tb\"", "abcdefghijklmnopqrstu\u{1f}v\"", "\u{0}\""];

        let lens: Vec<_> = texts.iter().map(|t| plain_end(t.as_bytes(), 0)).collect();

        assert_eq!(lens, vec![None; texts.len()]);
    }

    #[test]
    fn plain_end_counts_from_the_start_of_the_text() {
        let text = br#"{"key":"a value longer than sixteen bytes","#;

        let ends = [2, 8].map(|from| plain_end(text, from));

        assert_eq!(ends, [Some(5), Some(41)]);
    }

    /// JSON texts built from tokens, valid or not: what `value_len` must judge as serde does.
    fn json_tokens() -> impl proptest::strategy::Strategy<Value = String> {
        use proptest::prelude::*;
        let token = prop::sample::select(vec![
            "{",
            "}",
            "[",
            "]",
            ",",
            ":",
            " ",
            "\n",
            "\"k\"",
            "\"a b\"",
            "\"\\n\"",
            "\"\t\"",
            "\"\\u00e9\"",
            "\"é\"",
            "0",
            "-0",
            "12",
            "-3.25",
            "1e5",
            "2E-3",
            "1.5e+2",
            "01",
            "1.",
            "-",
            ".5",
            "1e",
            "true",
            "false",
            "null",
            "tru",
            "nul",
            "x",
        ]);
        prop::collection::vec(token, 1..14).prop_map(|tokens| tokens.concat())
    }

    /// Arbitrary valid JSON values.
    fn json_values() -> impl proptest::strategy::Strategy<Value = serde_json::Value> {
        use proptest::prelude::*;
        let leaf = prop_oneof![
            Just(serde_json::Value::Null),
            any::<bool>().prop_map(serde_json::Value::from),
            any::<i64>().prop_map(serde_json::Value::from),
            any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(serde_json::Value::from),
            "[a-zé😀 ]{0,6}".prop_map(serde_json::Value::from),
        ];
        leaf.prop_recursive(6, 48, 5, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..5).prop_map(serde_json::Value::from),
                prop::collection::btree_map("[a-z]{0,3}", inner, 0..5)
                    .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig { cases: 4096, failure_persistence: None, ..Default::default() })]

        #[test]
        fn what_value_len_vouches_for_serde_reads_as_one_value(text in json_tokens()) {
            let judged = value_len(text.as_bytes()).map(|n| &text[..n]);

            if let Some(value) = judged {
                let raw = serde_json::from_str::<&RawValue>(value).map(RawValue::get);
                proptest::prop_assert_eq!(raw.ok(), Some(value));
            }
        }

        #[test]
        fn a_valid_value_without_escapes_is_vouched_for_whole(value in json_values(), pretty: bool) {
            let text = if pretty { serde_json::to_string_pretty(&value) } else { serde_json::to_string(&value) }.unwrap();

            let len = value_len(text.as_bytes());

            proptest::prop_assert_eq!(len, Some(text.len()), "{}", text);
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig { cases: 2048, failure_persistence: None, ..Default::default() })]

        #[test]
        fn a_valid_value_is_delimited_whole_escapes_and_all(value in json_values(), escaped in "[\"\\\\\n\u{1}a]{0,4}", pretty: bool) {
            let value = serde_json::json!([value, escaped, {"k": escaped}]);
            let text = if pretty { serde_json::to_string_pretty(&value) } else { serde_json::to_string(&value) }.unwrap();
            let inner = serde_json::to_string(&escaped).unwrap();

            let lens = (checked_value_len(text.as_bytes()), checked_value_len(format!("{inner},1").as_bytes()));

            proptest::prop_assert_eq!(lens, (Some(text.len()), Some(inner.len())), "{}", text);
        }
    }

    #[test]
    fn values_it_does_not_check_are_declined() {
        let declined =
            ["\"a\\nb\"", "\"\\u00e9\"", "[\"tab\there\"]", "{\"k\":}", "[1,]", "{\"k\" 1}", "-", "1.", "tru", ""];
        let deep = "[".repeat(65) + &"]".repeat(65);

        let judged: Vec<_> = declined.iter().copied().chain([deep.as_str()]).map(|t| value_len(t.as_bytes())).collect();

        assert_eq!(judged, vec![None; declined.len() + 1]);
    }

    #[test]
    fn a_number_ends_where_its_grammar_does() {
        let texts = ["0", "01", "-12.5e+3,", "1.5E2]", "7}"];

        let lens: Vec<_> = texts.iter().map(|t| value_len(t.as_bytes())).collect();

        assert_eq!(lens, vec![Some(1), Some(1), Some(8), Some(5), Some(1)]);
    }

    #[test]
    fn every_fixture_payload_is_scanned_not_declined() {
        let states = ha_fixtures::install(ha_fixtures::DEFAULT_SEED, 200);
        let mut frames = vec![ha_fixtures::compressed_snapshot_message(&states, 3)];
        frames.extend(ha_fixtures::compressed_diff_messages(5, &states, 1_000, 3));
        let payloads: Vec<&str> = frames.iter().map(|f| crate::lone_event_payload(f).expect("an event").1).collect();

        let declined: Vec<&str> = payloads.iter().copied().filter(|p| scanned(p).is_none()).collect();

        assert!(declined.is_empty(), "{} declined, first: {:?}", declined.len(), declined.first());
    }
}
