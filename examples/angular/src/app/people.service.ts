import { HttpClient } from '@angular/common/http';
import { Injectable, inject } from '@angular/core';
import { Observable } from 'rxjs';
import { API_BASE_URL, Person } from './api';

export type PersonInput = Omit<Person, 'id'>;

@Injectable({ providedIn: 'root' })
export class PeopleService {
  private readonly http = inject(HttpClient);
  private readonly url = `${inject(API_BASE_URL)}/api/people`;

  list(page = 1, limit = 50): Observable<Person[]> {
    return this.http.get<Person[]>(this.url, { params: { page, limit } });
  }

  create(person: PersonInput): Observable<Person> {
    return this.http.post<Person>(this.url, person);
  }

  update(id: number, person: PersonInput): Observable<Person> {
    return this.http.put<Person>(`${this.url}/${id}`, person);
  }

  /** Admin only: a normal user gets 403 `insufficient_role` (never a refresh). */
  remove(id: number): Observable<void> {
    return this.http.delete<void>(`${this.url}/${id}`);
  }
}
