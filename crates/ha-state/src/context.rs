//! An entity's context as the mirror holds it: the id inside the entry, not in a heap block of
//! its own.
//!
//! Every change of an entity carries a new context id (a 26-character ULID). Held as a `String`
//! it was one heap block per entity: one `malloc` more per entity of a snapshot, and one more
//! cache line to fetch for each change applied. Parent and user ids are rare (a change a person
//! or an automation caused) and stay boxed.

use std::borrow::Cow;
use std::fmt;

use ha_proto::{Context, ContextPatch, ContextView};

use crate::heap;

/// Longest id held inside the entry; a longer one (Home Assistant's are 26 characters) is boxed.
const INLINE: usize = 30;

/// A context id: inline up to [`INLINE`] bytes, else boxed.
#[derive(Clone)]
enum Id {
    Inline { len: u8, bytes: [u8; INLINE] },
    Boxed(Box<str>),
}

impl Id {
    fn new(text: &str) -> Self {
        match u8::try_from(text.len()) {
            Ok(len) if text.len() <= INLINE => {
                let mut bytes = [0; INLINE];
                bytes[..text.len()].copy_from_slice(text.as_bytes());
                Id::Inline { len, bytes }
            }
            _ => Id::Boxed(text.into()),
        }
    }

    fn as_bytes(&self) -> &[u8] {
        match self {
            Id::Inline { len, bytes } => &bytes[..usize::from(*len)],
            Id::Boxed(text) => text.as_bytes(),
        }
    }

    fn as_str(&self) -> &str {
        match self {
            // Copied from a `&str` whole, so valid UTF-8; checking again costs a few instructions.
            Id::Inline { len, bytes } => std::str::from_utf8(&bytes[..usize::from(*len)]).expect("copied from a str"),
            Id::Boxed(text) => text,
        }
    }

    fn heap_bytes(&self) -> usize {
        match self {
            Id::Inline { .. } => 0,
            Id::Boxed(text) => heap::block(text.len()),
        }
    }
}

impl Default for Id {
    fn default() -> Self {
        Id::Inline { len: 0, bytes: [0; INLINE] }
    }
}

/// The context of a stored entity: what [`Context`] holds, the id kept inside the entry.
#[derive(Clone, Default)]
pub(crate) struct StoredContext {
    id: Id,
    parent_id: Option<Box<str>>,
    user_id: Option<Box<str>>,
}

impl StoredContext {
    /// The context as a borrowed [`ContextView`].
    pub(crate) fn view(&self) -> ContextView<'_> {
        ContextView {
            id: Cow::Borrowed(self.id.as_str()),
            parent_id: self.parent_id.as_deref().map(Cow::Borrowed),
            user_id: self.user_id.as_deref().map(Cow::Borrowed),
        }
    }

    /// An owned copy.
    pub(crate) fn to_context(&self) -> Context {
        Context {
            id: self.id.as_str().to_owned(),
            parent_id: self.parent_id.as_deref().map(str::to_owned),
            user_id: self.user_id.as_deref().map(str::to_owned),
        }
    }

    /// Whether this is the context with these fields.
    pub(crate) fn is(&self, id: &str, parent_id: Option<&str>, user_id: Option<&str>) -> bool {
        self.id.as_bytes() == id.as_bytes()
            && self.parent_id.as_deref() == parent_id
            && self.user_id.as_deref() == user_id
    }

    /// Becomes the context with these fields (a parent or user id the same as held is kept).
    pub(crate) fn set(&mut self, id: &str, parent_id: Option<&str>, user_id: Option<&str>) {
        self.set_id(id);
        set_option(&mut self.parent_id, parent_id);
        set_option(&mut self.user_id, user_id);
    }

    fn set_id(&mut self, id: &str) {
        match (&mut self.id, u8::try_from(id.len())) {
            // Overwritten in place: cheaper than comparing first (a change brings a new id).
            (Id::Inline { len, bytes }, Ok(new_len)) if id.len() <= INLINE => {
                bytes[..id.len()].copy_from_slice(id.as_bytes());
                *len = new_len;
            }
            (Id::Boxed(held), _) if **held == *id => {}
            _ => self.id = Id::new(id),
        }
    }

    /// Applies a compressed context with Home Assistant's merge rule: a bare id replaces only
    /// the id, an object the fields it names (as [`ContextPatch::apply_to`] does to a
    /// [`Context`]).
    pub(crate) fn apply(&mut self, patch: &ContextPatch<'_>) {
        if let Some(id) = &patch.id {
            self.set_id(id);
        }
        if let Some(parent_id) = &patch.parent_id {
            set_option(&mut self.parent_id, parent_id.as_deref());
        }
        if let Some(user_id) = &patch.user_id {
            set_option(&mut self.user_id, user_id.as_deref());
        }
    }

    /// Heap held outside the entry.
    pub(crate) fn heap_bytes(&self) -> usize {
        self.id.heap_bytes()
            + self.parent_id.as_ref().map_or(0, |p| heap::block(p.len()))
            + self.user_id.as_ref().map_or(0, |u| heap::block(u.len()))
    }
}

/// Sets an optional boxed text, allocating only when it changes to another text.
fn set_option(held: &mut Option<Box<str>>, new: Option<&str>) {
    if held.as_deref() != new {
        *held = new.map(Box::from);
    }
}

impl PartialEq for StoredContext {
    fn eq(&self, other: &Self) -> bool {
        other.is(self.id.as_str(), self.parent_id.as_deref(), self.user_id.as_deref())
    }
}

impl fmt::Debug for StoredContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.view(), f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stored(id: &str, parent_id: Option<&str>, user_id: Option<&str>) -> StoredContext {
        let mut ctx = StoredContext::default();
        ctx.set(id, parent_id, user_id);
        ctx
    }

    #[test]
    fn an_id_of_any_length_reads_back_as_set() {
        let ids = ["", "01HQ3M2W6ZB4N3K5R7T9V1X3Y5", &"x".repeat(INLINE), &"é".repeat(INLINE)];

        let read: Vec<String> = ids.iter().map(|id| stored(id, None, None).view().id.into_owned()).collect();

        assert_eq!(read, ids);
    }

    #[test]
    fn a_ulid_is_held_inside_the_entry() {
        let ctx = stored("01HQ3M2W6ZB4N3K5R7T9V1X3Y5", None, None);

        let heap = ctx.heap_bytes();

        assert_eq!(heap, 0);
    }

    #[test]
    fn a_bare_id_patch_keeps_parent_and_user() {
        let mut ctx = stored("a", Some("p"), Some("u"));
        let patch = ContextPatch { id: Some("b".into()), bare_id: true, ..Default::default() };

        ctx.apply(&patch);

        assert_eq!(
            ctx.to_context(),
            Context { id: "b".into(), parent_id: Some("p".into()), user_id: Some("u".into()) }
        );
    }

    #[test]
    fn an_object_patch_sets_and_clears_the_fields_it_names() {
        let mut ctx = stored("a", Some("p"), Some("u"));
        let patch = ContextPatch { id: Some("b".into()), parent_id: Some(None), user_id: None, bare_id: false };

        ctx.apply(&patch);

        assert_eq!(ctx.to_context(), Context { id: "b".into(), parent_id: None, user_id: Some("u".into()) });
    }

    #[test]
    fn contexts_compare_by_every_field() {
        let a = stored("a", Some("p"), None);

        let same =
            (a == stored("a", Some("p"), None), a == stored("a", None, None), a == stored("a", Some("p"), Some("u")));

        assert_eq!(same, (true, false, false));
    }
}
