//! Offset pagination as GitLab does it: `page` from 1, `per_page` 20 by default and at most 100.

use crate::error::ParamErrors;

/// The default page size.
pub const DEFAULT_PER_PAGE: u32 = 20;
/// The largest page size; larger requests are clamped to it.
pub const MAX_PER_PAGE: u32 = 100;

/// Which page of a list to return.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PageRequest {
    page: u32,
    per_page: u32,
}

impl Default for PageRequest {
    fn default() -> Self {
        PageRequest {
            page: 1,
            per_page: DEFAULT_PER_PAGE,
        }
    }
}

impl PageRequest {
    /// Reads the raw `page` and `per_page` parameters (as sent, before any conversion). Missing means the
    /// default; anything that is not a positive integer is `page is invalid` / `per_page is invalid`; a
    /// `per_page` over 100 is clamped.
    pub fn parse(page: Option<&str>, per_page: Option<&str>) -> Result<Self, ParamErrors> {
        let mut errors = ParamErrors::new();
        let mut read = |raw: Option<&str>, name: &str, default: u32| -> u32 {
            let Some(raw) = raw else { return default };
            match raw.trim().parse::<u64>() {
                Ok(n) if n >= 1 => u32::try_from(n).unwrap_or(u32::MAX),
                _ => {
                    errors.invalid(name);
                    default
                }
            }
        };
        let page = read(page, "page", 1);
        let per_page = read(per_page, "per_page", DEFAULT_PER_PAGE).min(MAX_PER_PAGE);
        errors.into_result(|| PageRequest { page, per_page })
    }

    /// A page request from already valid numbers (clamped to the allowed range).
    pub fn new(page: u32, per_page: u32) -> Self {
        PageRequest {
            page: page.max(1),
            per_page: per_page.clamp(1, MAX_PER_PAGE),
        }
    }

    /// The page number, from 1.
    pub fn page(self) -> u32 {
        self.page
    }

    /// The page size.
    pub fn per_page(self) -> u32 {
        self.per_page
    }

    /// How many rows to skip.
    pub fn offset(self) -> u64 {
        u64::from(self.page - 1) * u64::from(self.per_page)
    }

    /// How many rows to take.
    pub fn limit(self) -> u64 {
        u64::from(self.per_page)
    }
}

/// One page of a list and the size of the whole list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    /// The rows of this page.
    pub items: Vec<T>,
    /// How many rows the whole list has.
    pub total: u64,
    /// Which page this is.
    pub request: PageRequest,
}

impl<T> Page<T> {
    /// Cuts one page out of a complete list (for stores that hold lists in memory).
    pub fn from_all(all: Vec<T>, request: PageRequest) -> Self {
        Self::cut(all.into_iter(), request)
    }

    /// One page of a shared list, cloning only the rows on the page.
    pub fn from_slice(all: &[T], request: PageRequest) -> Self
    where
        T: Clone,
    {
        Page::cut(all.iter(), request).map(T::clone)
    }

    fn cut(all: impl ExactSizeIterator<Item = T>, request: PageRequest) -> Self {
        let total = all.len() as u64;
        let skip = usize::try_from(request.offset()).unwrap_or(usize::MAX);
        let items = all.skip(skip).take(request.per_page as usize).collect();
        Page {
            items,
            total,
            request,
        }
    }

    /// The number of pages (at least 1, as GitLab reports for an empty list).
    pub fn total_pages(&self) -> u64 {
        self.total.div_ceil(u64::from(self.request.per_page)).max(1)
    }

    /// The next page, if there is one.
    pub fn next_page(&self) -> Option<u64> {
        let page = u64::from(self.request.page);
        (page < self.total_pages()).then_some(page + 1)
    }

    /// The previous page, if there is one.
    pub fn prev_page(&self) -> Option<u64> {
        let page = u64::from(self.request.page);
        (page > 1).then(|| (page - 1).min(self.total_pages()))
    }

    /// The same page with its rows converted.
    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        Page {
            items: self.items.into_iter().map(f).collect(),
            total: self.total,
            request: self.request,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parsing() {
        assert_eq!(
            PageRequest::parse(None, None),
            Ok(PageRequest {
                page: 1,
                per_page: 20
            })
        );
        assert_eq!(
            PageRequest::parse(Some("3"), Some("500")),
            Ok(PageRequest {
                page: 3,
                per_page: 100
            })
        );
        assert_eq!(
            PageRequest::parse(Some("0"), None),
            Err(ParamErrors::one("page is invalid"))
        );
        assert_eq!(
            PageRequest::parse(Some("-1"), Some("x")),
            Err(ParamErrors(vec![
                "page is invalid".into(),
                "per_page is invalid".into()
            ]))
        );
        assert_eq!(
            PageRequest::parse(None, Some("0")),
            Err(ParamErrors::one("per_page is invalid"))
        );
    }

    #[test]
    fn links() {
        let page = Page::from_all((0..45).collect::<Vec<_>>(), PageRequest::new(2, 20));
        assert_eq!(page.items, (20..40).collect::<Vec<_>>());
        assert_eq!(
            (page.total_pages(), page.next_page(), page.prev_page()),
            (3, Some(3), Some(1))
        );
        let empty = Page::<u8>::from_all(vec![], PageRequest::default());
        assert_eq!(
            (empty.total_pages(), empty.next_page(), empty.prev_page()),
            (1, None, None)
        );
    }

    proptest! {
        #[test]
        fn pages_partition_the_list(total in 0usize..300, per_page in 1u32..120) {
            let all: Vec<usize> = (0..total).collect();
            let first = Page::from_all(all.clone(), PageRequest::new(1, per_page));
            let mut seen = Vec::new();
            for page in 1..=first.total_pages() {
                let p = Page::from_all(all.clone(), PageRequest::new(page as u32, per_page));
                prop_assert!(p.items.len() <= p.request.per_page() as usize);
                prop_assert_eq!(&Page::from_slice(&all, p.request), &p);
                seen.extend(p.items);
            }
            prop_assert_eq!(seen, all);
        }
    }
}
