package layouts

// compactNavSlots is how many entries the phone's bottom navigation shows side by side: five fit
// 390 px with their labels whole; with more, the last slot is a "More" menu holding the rest.
const compactNavSlots = 5

// CompactNav splits the navigation for the phone's bottom bar: the entries shown in the bar, and
// those in its "More" menu (none when all fit).
func (f Frame) CompactNav() (bar, more []NavItem) {
	items := f.NavItems()
	if len(items) <= compactNavSlots {
		return items, nil
	}
	return items[:compactNavSlots-1], items[compactNavSlots-1:]
}

// MoreIsCurrent says whether the active page is one of the "More" menu's entries.
func (f Frame) MoreIsCurrent() bool {
	_, more := f.CompactNav()
	for _, it := range more {
		if it.Key == f.Nav {
			return true
		}
	}
	return false
}
