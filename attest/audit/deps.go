package audit

import _ "modernc.org/sqlite" // pinned until the index imports it
