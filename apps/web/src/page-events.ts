/**
 * The name of the DOM event the page dispatches on `window` for every volunteer event it shows
 * (`detail`: the VolunteerEvent), so what embeds or drives the page can follow training without
 * scraping it.
 */
export const VOLUNTEER_EVENT = 'slimswarm:volunteer';
