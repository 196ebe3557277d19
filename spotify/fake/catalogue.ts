/**
 * A made-up, deterministic music catalogue for the fake Spotify: artists, albums and tracks with
 * Spotify-shaped 22-character base62 ids, rendered as the Web API's objects (the shape a
 * development-mode app gets since 2026: no popularity, external_ids or available_markets).
 */
import type { SimplifiedAlbum, SimplifiedArtist, Track } from '../types.ts';

/** mulberry32: a small seeded PRNG. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A deterministic number from a seed and an index (for "play k of a seeded listener"). */
export function hash2(seed: number, k: number): number {
  return prng((Math.imul(seed >>> 0, 2654435761) ^ Math.imul(k + 1, 40503)) >>> 0)();
}

const B62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
function spotifyId(rand: () => number): string {
  let s = '';
  for (let i = 0; i < 22; i++) s += B62[Math.floor(rand() * 62)];
  return s;
}

const WORDS = [
  'Midnight', 'Paper', 'Golden', 'River', 'Static', 'Velvet', 'Neon', 'Hollow', 'Summer', 'Glass', 'Echo', 'Wild',
  'Silver', 'Northern', 'Electric', 'Quiet', 'Lantern', 'Ocean', 'Ember', 'Satellite', 'Winter', 'Honey', 'Signal',
  'Crimson', 'Harbor', 'Atlas', 'Meadow', 'Thunder', 'Coral', 'Shadow', 'Bloom', 'Orbit', 'Saint', 'Dust', 'Marble',
];
const NOUNS = ['Hearts', 'Lines', 'Birds', 'Rooms', 'Waves', 'Lights', 'Roads', 'Dreams', 'Kids', 'Stones', 'Fires', 'Tides'];

export interface CatalogueArtist {
  id: string;
  name: string;
}
export interface CatalogueAlbum {
  id: string;
  name: string;
  artist: number;
  releaseDate: string;
  totalTracks: number;
}
export interface CatalogueTrack {
  id: string;
  name: string;
  album: number;
  artists: number[];
  durationMs: number;
  trackNumber: number;
  explicit: boolean;
}

/** A file on the listener's own disk, played through Spotify (`is_local`): no ids, no album art. */
export interface CatalogueLocalFile {
  artist: string;
  album: string;
  title: string;
  durationMs: number;
}

export class Catalogue {
  readonly artists: CatalogueArtist[] = [];
  readonly albums: CatalogueAlbum[] = [];
  readonly tracks: CatalogueTrack[] = [];
  readonly localFiles: CatalogueLocalFile[] = [];

  constructor(seed = 7, sizes = { artists: 40, albumsPerArtist: 2, tracksPerAlbum: 8 }) {
    const rand = prng(seed);
    const pick = <T>(xs: readonly T[]) => xs[Math.floor(rand() * xs.length)]!;
    for (let a = 0; a < sizes.artists; a++) {
      const name = rand() < 0.5 ? `${pick(WORDS)} ${pick(NOUNS)}` : `The ${pick(WORDS)} ${pick(NOUNS)}`;
      this.artists.push({ id: spotifyId(rand), name: `${name}${a >= WORDS.length ? ` ${a}` : ''}` });
      for (let b = 0; b < sizes.albumsPerArtist; b++) {
        const year = 1995 + Math.floor(rand() * 31);
        const album: CatalogueAlbum = {
          id: spotifyId(rand),
          name: `${pick(WORDS)} ${pick(NOUNS)}`,
          artist: a,
          releaseDate: `${year}-${String(1 + Math.floor(rand() * 12)).padStart(2, '0')}-${String(1 + Math.floor(rand() * 28)).padStart(2, '0')}`,
          totalTracks: sizes.tracksPerAlbum,
        };
        this.albums.push(album);
        const albumIndex = this.albums.length - 1;
        for (let t = 0; t < sizes.tracksPerAlbum; t++) {
          const featuring = rand() < 0.15 ? [Math.floor(rand() * sizes.artists)].filter((x) => x !== a) : [];
          this.tracks.push({
            id: spotifyId(rand),
            name: `${pick(WORDS)} ${rand() < 0.5 ? pick(NOUNS) : pick(WORDS)}`,
            album: albumIndex,
            artists: [a, ...featuring],
            durationMs: 120_000 + Math.floor(rand() * 240_000),
            trackNumber: t + 1,
            explicit: rand() < 0.1,
          });
        }
      }
    }
    for (let i = 0; i < 8; i++) {
      this.localFiles.push({
        artist: `${pick(WORDS)} ${pick(NOUNS)} (bootleg)`,
        album: i % 3 === 0 ? '' : `${pick(WORDS)} Demos`,
        title: `${pick(WORDS)} ${pick(WORDS)} ${i + 1}`,
        // Local files have whole-second durations (the URI carries them in seconds).
        durationMs: (150 + Math.floor(rand() * 150)) * 1000,
      });
    }
  }

  /**
   * A local file as the Web API returns it (a recorded currently-playing answer for a local file,
   * tekore issue #200): `is_local: true`, `uri` `spotify:local:<artist>:<album>:<title>:<seconds>`
   * (form-encoded parts), every id, href and album URI null, empty external URLs and images, disc
   * and track number 0, album_type and release date null.
   */
  localTrackObject(i: number): Track {
    const f = this.localFiles[i]!;
    const part = (v: string) => new URLSearchParams({ v }).toString().slice(2);
    return {
      album: {
        album_type: null,
        artists: [],
        external_urls: {},
        href: null,
        id: null,
        images: [],
        name: f.album,
        release_date: null,
        release_date_precision: null,
        type: 'album',
        uri: null,
      } as unknown as Track['album'],
      artists: [{ external_urls: {}, href: null, id: null, name: f.artist, type: 'artist', uri: null }],
      disc_number: 0,
      duration_ms: f.durationMs,
      explicit: false,
      external_urls: {},
      href: null,
      id: null,
      is_local: true,
      name: f.title,
      preview_url: null,
      track_number: 0,
      type: 'track',
      uri: `spotify:local:${part(f.artist)}:${part(f.album)}:${part(f.title)}:${f.durationMs / 1000}`,
    };
  }

  artistObject(i: number, apiUrl: string): SimplifiedArtist {
    const a = this.artists[i]!;
    return {
      external_urls: { spotify: `https://open.spotify.com/artist/${a.id}` },
      href: `${apiUrl}/v1/artists/${a.id}`,
      id: a.id,
      name: a.name,
      type: 'artist',
      uri: `spotify:artist:${a.id}`,
    };
  }

  albumObject(i: number, apiUrl: string): SimplifiedAlbum {
    const al = this.albums[i]!;
    return {
      album_type: 'album',
      artists: [this.artistObject(al.artist, apiUrl)],
      external_urls: { spotify: `https://open.spotify.com/album/${al.id}` },
      href: `${apiUrl}/v1/albums/${al.id}`,
      id: al.id,
      images: [640, 300, 64].map((size) => ({ height: size, url: `https://i.scdn.co/image/ab67616d0000${size === 640 ? 'b273' : size === 300 ? '1e02' : '4851'}${al.id.slice(0, 22).toLowerCase()}`, width: size })),
      name: al.name,
      release_date: al.releaseDate,
      release_date_precision: 'day',
      total_tracks: al.totalTracks,
      type: 'album',
      uri: `spotify:album:${al.id}`,
    };
  }

  trackObject(i: number, apiUrl: string): Track {
    const t = this.tracks[i]!;
    return {
      album: this.albumObject(t.album, apiUrl),
      artists: t.artists.map((a) => this.artistObject(a, apiUrl)),
      disc_number: 1,
      duration_ms: t.durationMs,
      explicit: t.explicit,
      external_urls: { spotify: `https://open.spotify.com/track/${t.id}` },
      href: `${apiUrl}/v1/tracks/${t.id}`,
      id: t.id,
      is_local: false,
      name: t.name,
      preview_url: null,
      track_number: t.trackNumber,
      type: 'track',
      uri: `spotify:track:${t.id}`,
    };
  }
}
