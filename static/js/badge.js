// The failed count on the favicon (issue 14): a red badge drawn over the page's own icon as an
// SVG data URL; the plain icon again at 0. badgeSvg() is pure.

// The plain icon (static/favicon.svg) and a badge with the count ("99+" past 99).
export function badgeSvg(count) {
  const text = count > 99 ? '99+' : String(count);
  const size = text.length > 2 ? 11 : text.length > 1 ? 14 : 16;
  return '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32">' +
    '<rect x="2" y="11" width="28" height="10" rx="5" fill="#d0d7de"/>' +
    '<rect x="2" y="11" width="19" height="10" rx="5" fill="#2f81f7"/>' +
    '<circle cx="21" cy="11" r="11" fill="#d1242f" stroke="#ffffff" stroke-width="1.5"/>' +
    `<text x="21" y="11" dy="0.36em" text-anchor="middle" font-family="Arial, Helvetica, sans-serif" font-weight="700" font-size="${size}" fill="#ffffff">${text}</text>` +
    '</svg>';
}

export const badgeUrl = (count) => `data:image/svg+xml,${encodeURIComponent(badgeSvg(count))}`;

// Keeps the page's icon in step with the count; the <link rel="icon"> it started with is
// restored at 0.
export function createFaviconBadge(doc = document) {
  const link = doc.querySelector('link[rel="icon"]');
  const plain = link ? link.getAttribute('href') : null;
  let shown = 0;
  return {
    set(count) {
      if (!link || count === shown) return;
      shown = count;
      link.setAttribute('href', count > 0 ? badgeUrl(count) : plain);
      link.dataset.count = String(count);
    },
  };
}
